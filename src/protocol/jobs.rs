//! `CALL stardust.export('SELECT …', 'csv'|'json')`: the session's tenant submits an export job of its own model
//! table; the OK packet's last-insert id is the job's id (`stardust.jobs`, `stardust jobs`). This process's
//! Chronicler is woken to run it. `CALL stardust.cancel_job(id [, 'import'|'export'])` cancels one of the
//! tenant's unfinished jobs, as `stardust jobs --cancel` does.

use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Session;
use crate::jobs::export::{self, Format};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(super) async fn export(&mut self, query: &str, format: &str) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        let format = Format::parse(format).ok_or_else(|| {
            crate::jobs::Error::Input(format!(
                "stardust.export writes 'csv' or 'json', not '{format}'"
            ))
        })?;
        let catalog = self.catalog(tenant).await?;
        let parsed = export::parse(query, &catalog)?;
        parsed.chunk_sql(&catalog, &self.home(), 0, 1)?;
        let mut conn = self.state.backend.conn(false).await?;
        let cap = self.state.config.jobs.active_per_tenant;
        let id = export::submit(&mut conn, tenant, query, &parsed, format, cap).await?;
        crate::daemons::chronicler::wake();
        let outcome = super::wire::Outcome {
            affected_rows: 1,
            last_insert_id: u64::try_from(id).unwrap_or(0),
            status: self.status,
            warnings: 0,
            info: format!("export job {id} submitted"),
        };
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }

    pub(super) async fn cancel_job(&mut self, id: i64, kind: &str) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        let export = match kind.to_ascii_lowercase().as_str() {
            "export" => true,
            "import" => false,
            _ => {
                return Err(crate::jobs::Error::Input(format!(
                    "stardust.cancel_job cancels an 'import' or an 'export', not '{kind}'"
                ))
                .into())
            }
        };
        let mut conn = self.state.backend.conn(false).await?;
        let dir = self.state.config.jobs.artifact_dir.clone();
        crate::jobs::status::cancel_job(&mut conn, &dir, tenant, id, export).await?;
        let outcome = super::wire::Outcome {
            affected_rows: 1,
            status: self.status,
            info: format!("{kind} job {id} cancelled"),
            ..Default::default()
        };
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }
}

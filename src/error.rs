//! The crate error: each module's error joined, with one protocol-neutral `Kind` that `protocol` maps to MySQL codes.

/// What went wrong, in terms a client can act on. `protocol::errors` turns each into a MySQL code and SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client's handshake response could not be read, or asked for something not offered (TLS).
    BadHandshake,
    /// Wrong user name or password.
    AccessDenied,
    /// The user may not use that database.
    DatabaseDenied,
    /// The user may not touch that table.
    TableDenied,
    /// The user lacks a privilege the statement needs (SET GLOBAL, KILL of another user, …).
    PrivilegeDenied,
    /// A statement needs a default database and none is selected.
    NoDatabase,
    /// A model table the statement creates exists already.
    TableExists,
    /// A model table the statement names does not exist (for this tenant).
    NoSuchTable,
    /// `DROP TABLE` names tables that do not exist.
    UnknownTable,
    /// A column the statement names does not exist.
    NoSuchColumn,
    /// A column name is used twice, or is one StarDust provides (`id`, `created_at`, `updated_at`).
    DuplicateColumn,
    /// An index name is used twice.
    DuplicateKey,
    /// An index names a column the table does not have.
    NoKeyColumn,
    /// `DROP COLUMN`/`DROP INDEX` of something that does not exist.
    CantDrop,
    /// A model table name outside the allowed pattern.
    BadTableName,
    /// A field name outside the allowed pattern.
    BadColumnName,
    /// A filter on a model field without a usable index, while scans are not allowed.
    NotIndexed,
    /// A virtual-table statement from an admin login that has not chosen a tenant.
    NoTenant,
    /// The statement text holds no statement.
    EmptyQuery,
    /// The SQL text could not be parsed.
    Syntax,
    /// Valid SQL that StarDust cannot honour; the message says what and why.
    NotSupported,
    /// A protocol command the proxy does not implement.
    UnknownCommand,
    /// A prepared-statement id the session does not know.
    UnknownStatement,
    /// COM_STMT_FETCH on a statement without an open cursor.
    NoOpenCursor,
    /// A cursor's unread rows outgrew `cursor_buffer_bytes` when another command needed the backend connection.
    CursorBufferFull,
    /// A malformed command packet (for example a short COM_STMT_EXECUTE).
    WrongArguments,
    /// A packet larger than `max_allowed_packet`.
    PacketTooLarge,
    /// Text that is not valid in the connection's character set.
    BadCharacters,
    /// An unknown `KILL` target.
    NoSuchThread,
    /// `KILL` of another user's session.
    KillDenied,
    /// Too many client connections at once.
    TooManyConnections,
    /// A session variable the proxy keeps was set to a value it cannot take.
    WrongValueForVariable,
    /// The statement ran longer than the session's statement timeout and was cancelled on the backend.
    StatementTimeout,
    /// A lock the statement needs stayed taken too long.
    LockTimeout,
    /// The backend cannot be reached.
    BackendUnavailable,
    /// The session's backend connection broke during a statement (the backend restarted or went away): its
    /// session state and open transaction are gone, so the client connection closes after the error.
    BackendLost,
    /// A backend error, relayed with its own code and SQLSTATE.
    Backend { code: u16, state: [u8; 5] },
    /// A bug or an unexpected condition inside the proxy.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sql(#[from] crate::sql::Error),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    #[error(transparent)]
    Client(#[from] Client),
    #[error(transparent)]
    Ddl(#[from] crate::ddl::Error),
    #[error(transparent)]
    Rewrite(#[from] crate::rewrite::Error),
    #[error(transparent)]
    Write(#[from] crate::write::Error),
    #[error(transparent)]
    Jobs(#[from] crate::jobs::Error),
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Sql(e) => e.kind(),
            Error::Backend(e) => e.kind(),
            Error::Client(e) => e.kind(),
            Error::Ddl(e) => e.kind(),
            Error::Rewrite(e) => e.kind(),
            Error::Write(e) => e.kind(),
            Error::Jobs(e) => e.kind(),
        }
    }
}

impl Error {
    /// The backend's own error, wherever it is wrapped, so that its message is relayed word for word.
    pub fn server_error(&self) -> Option<&mysql_async::ServerError> {
        let backend = match self {
            Error::Backend(e) => e,
            Error::Ddl(crate::ddl::Error::Backend(e)) => e,
            Error::Write(crate::write::Error::Backend(e)) => e,
            _ => return None,
        };
        match backend {
            crate::backend::Error::Server(e) => Some(e),
            _ => None,
        }
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        Error::Backend(e.into())
    }
}

/// Failures of the client connection or of a protocol command: what the client sent, or who it is.
#[derive(Debug, thiserror::Error)]
pub enum Client {
    /// The client went away or its socket failed; nothing more can be sent.
    #[error("client connection lost: {0}")]
    ClientGone(#[from] std::io::Error),
    #[error("Bad handshake: {0}")]
    BadHandshake(String),
    #[error("Access denied for user '{user}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied { user: String, using_password: bool },
    #[error("Unknown command {0:#04x}: StarDust does not implement this protocol command")]
    UnknownCommand(u8),
    #[error("{0}")]
    Unsupported(String),
    #[error("Unknown prepared statement handler ({id}) given to {command}")]
    UnknownStatement { id: u32, command: &'static str },
    #[error("Incorrect arguments to {0}")]
    Malformed(&'static str),
    #[error("The statement ({0}) has no open cursor: execute it with CURSOR_TYPE_READ_ONLY before fetching")]
    NoOpenCursor(u32),
    #[error("The cursor of statement ({id}) was closed: another command needed the backend connection while more \
             than cursor_buffer_bytes ({limit}) of its rows were unread; fetch them first, or raise cursor_buffer_bytes")]
    CursorBufferFull { id: u32, limit: usize },
    #[error("Incorrect arguments to replay_dlq: no dead-lettered entry with id {0} (SELECT id FROM stardust.dlq lists them)")]
    NoDeadLetter(i64),
    #[error("Unknown thread id: {0}")]
    NoSuchThread(u64),
    #[error("You are not owner of thread {0}")]
    NotOwner(u64),
    #[error("No tenant selected: an admin login chooses one with SET stardust_tenant = N before using model tables")]
    NoTenant,
    #[error("Too many connections: the proxy serves at most {0} at once (max_connections)")]
    TooManyConnections(usize),
    #[error("Query execution was interrupted, maximum statement execution time exceeded")]
    StatementTimeout,
    #[error("Got a packet bigger than 'max_allowed_packet' bytes ({0})")]
    PacketTooLarge(usize),
    #[error(
        "Lost connection to the backend during query ({0}); the session and any open transaction are gone \
         (not committed): reconnect and retry"
    )]
    BackendLost(String),
}

impl Client {
    pub fn kind(&self) -> Kind {
        match self {
            Client::ClientGone(_) => Kind::Internal,
            Client::BadHandshake(_) => Kind::BadHandshake,
            Client::AccessDenied { .. } => Kind::AccessDenied,
            Client::UnknownCommand(_) => Kind::UnknownCommand,
            Client::Unsupported(_) => Kind::NotSupported,
            Client::UnknownStatement { .. } => Kind::UnknownStatement,
            Client::NoOpenCursor(_) => Kind::NoOpenCursor,
            Client::CursorBufferFull { .. } => Kind::CursorBufferFull,
            Client::Malformed(_) | Client::NoDeadLetter(_) => Kind::WrongArguments,
            Client::NoSuchThread(_) => Kind::NoSuchThread,
            Client::NotOwner(_) => Kind::KillDenied,
            Client::TooManyConnections(_) => Kind::TooManyConnections,
            Client::NoTenant => Kind::NoTenant,
            Client::PacketTooLarge(_) => Kind::PacketTooLarge,
            Client::StatementTimeout => Kind::StatementTimeout,
            Client::BackendLost(_) => Kind::BackendLost,
        }
    }
}

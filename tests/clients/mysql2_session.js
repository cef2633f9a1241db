// Node's mysql2 driver through the proxy: connect (mysql2 asks for SESSION_TRACK and no DEPRECATE_EOF), plain
// and prepared queries, a failing query, and the metadata a model table shows. Prints one JSON line.
// Usage: node mysql2_session.js host port user password database
const mysql = require('mysql2/promise');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const conn = await mysql.createConnection({ host, port: Number(port), user, password, database });
  const out = {};
  const [one] = await conn.query('SELECT 1 + 1 AS two, DATABASE() AS db');
  out.query = one[0];
  const [prepared] = await conn.execute('SELECT ? * 2 AS doubled, ? AS text', [21, 'héllo']);
  out.prepared = prepared[0];
  try {
    await conn.query('SELECT * FROM entry_data');
    out.refused = null;
  } catch (e) {
    out.refused = e.errno;
  }
  const [tables] = await conn.query('SHOW TABLES');
  out.tables = tables.map((row) => Object.values(row)[0]);
  const [columns] = await conn.query(
    "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'model_company' ORDER BY ORDINAL_POSITION");
  out.columns = columns.map((c) => `${c.COLUMN_NAME} ${c.COLUMN_TYPE}`);
  const [, fields] = await conn.query('SELECT * FROM model_company LIMIT 0');
  out.fields = fields.map((f) => `${f.name}:${f.columnType}`);
  await conn.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

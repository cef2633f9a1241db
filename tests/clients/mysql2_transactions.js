// Node's mysql2 with transactions: beginTransaction/rollback/commit, `SET autocommit = 0`, a failed statement
// inside a transaction, savepoints, a rolled-back delete. Prints one JSON line: what a second connection saw after
// each step, and the error codes seen.
// Usage: node mysql2_transactions.js host port user password database   (table model_tx, empty at the start)
const mysql = require('mysql2/promise');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const options = { host, port: Number(port), user, password, database };
  const writer = await mysql.createConnection(options);
  const reader = await mysql.createConnection(options);
  const out = { seen: [], errors: [] };
  const seen = async (label) => {
    const [rows] = await reader.query('SELECT tag, n FROM model_tx ORDER BY tag');
    out.seen.push([label, ...rows.map((r) => [r.tag, r.n])]);
  };
  await writer.beginTransaction();
  await writer.execute('INSERT INTO model_tx (tag, n) VALUES (?, ?), (?, ?)', ['a', 1, 'b', 2]);
  await seen('uncommitted insert');
  await writer.rollback();
  await seen('after rollback');
  await writer.query('SET autocommit = 0');
  await writer.execute('INSERT INTO model_tx (tag, n) VALUES (?, ?)', ['c', 3]);
  await writer.commit();
  await seen('after commit');
  await writer.execute('UPDATE model_tx SET n = n + 10 WHERE tag = ?', ['c']);
  try {
    await writer.execute('INSERT INTO model_tx (tag, n) VALUES (?, ?)', [null, 4]);
  } catch (e) {
    out.errors.push(e.errno);
  }
  const [own] = await writer.query("SELECT n FROM model_tx WHERE tag = 'c'");
  out.ownUpdateKept = own[0].n;
  await writer.rollback();
  await seen('update rolled back');
  await writer.query("INSERT INTO model_tx (tag, n) VALUES ('d', 4)");
  await writer.query('SAVEPOINT s1');
  await writer.query("INSERT INTO model_tx (tag, n) VALUES ('e', 5)");
  await writer.query('ROLLBACK TO SAVEPOINT s1');
  await writer.commit();
  await seen('savepoint');
  await writer.query("DELETE FROM model_tx WHERE tag = 'c'");
  await seen('uncommitted delete');
  await writer.rollback();
  await seen('delete rolled back');
  await writer.end();
  await seen('closed');
  await reader.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

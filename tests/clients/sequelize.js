// Sequelize 6 (over mysql2) against `model_sq`: through the proxy (a model table) or directly (its native twin).
// A model defined over the existing table (timestamps mapped to created_at/updated_at), sync() without alter or
// force (Sequelize sends CREATE TABLE IF NOT EXISTS, which must leave the table as it is), create, bulkCreate,
// findAll with where/order/limit, update, destroy, count, a raw query and queryInterface.describeTable.
// Prints JSON lines for the caller to compare between the two sides; ids and timestamps are left out (a model's
// ids are global to the backend, a native table's its own; timestamps are wall clock).
// Usage: node sequelize.js host port user password database
const { Sequelize, DataTypes, Op, QueryTypes } = require('sequelize');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const sequelize = new Sequelize(database, user, password, {
    host,
    port: Number(port),
    dialect: 'mysql',
    logging: false,
    timezone: '+00:00',
  });
  const Sale = sequelize.define(
    'Sale',
    {
      id: { type: DataTypes.BIGINT.UNSIGNED, autoIncrement: true, primaryKey: true },
      name: { type: DataTypes.STRING(40), allowNull: false },
      region: { type: DataTypes.STRING(10) },
      sales: { type: DataTypes.DECIMAL(10, 2) },
      day: { type: DataTypes.DATEONLY },
    },
    { tableName: 'model_sq', freezeTableName: true, timestamps: true, createdAt: 'created_at', updatedAt: 'updated_at' },
  );
  const print = (line) => console.log(JSON.stringify(line));
  const plain = (rows) => rows.map((r) => ({ name: r.name, region: r.region, sales: r.sales, day: r.day }));

  await sequelize.authenticate();
  await Sale.sync();
  print({ synced: true });

  const one = await Sale.create({ name: 'Acme', region: 'north', sales: '10.50', day: '2024-01-02' });
  print({ created: { name: one.name, hasId: one.id !== null && one.id !== undefined } });
  await Sale.bulkCreate([
    { name: 'Bolt', region: 'south', sales: '3.25', day: '2024-01-02' },
    { name: 'Cog', region: 'north', sales: null, day: '2024-02-03' },
    { name: 'Dyn', region: null, sales: '7.00', day: null },
    { name: 'Eon', region: 'south', sales: '1.00', day: '2024-02-03' },
  ]);
  const found = await Sale.findAll({
    where: { region: { [Op.in]: ['north', 'south'] }, sales: { [Op.ne]: null } },
    order: [['sales', 'DESC'], ['name', 'ASC']],
    limit: 2,
  });
  print({ findAll: plain(found) });
  const [updated] = await Sale.update({ sales: '99.99' }, { where: { region: 'north' } });
  print({ updated });
  const destroyed = await Sale.destroy({ where: { name: 'Dyn' } });
  print({ destroyed });
  print({ count: await Sale.count(), north: await Sale.count({ where: { region: 'north' } }) });
  const all = await Sale.findAll({ order: [['name', 'ASC']] });
  print({ all: plain(all), timestamps: all.every((r) => r.created_at instanceof Date && r.updated_at instanceof Date) });
  const raw = await sequelize.query(
    'SELECT region, COUNT(*) AS n, SUM(sales) AS total FROM model_sq GROUP BY region ORDER BY region',
    { type: QueryTypes.SELECT },
  );
  print({ raw });
  const described = await sequelize.getQueryInterface().describeTable('model_sq');
  print({ describe: described });
  await sequelize.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

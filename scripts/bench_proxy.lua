-- sysbench workload for scripts/bench-proxy: one statement shape per run, sent as text or prepared.
--   sysbench scripts/bench_proxy.lua --case=<name> --rows=<rows in the tables> --events=N … run
-- Cases (tables: sbtest1 from sysbench's own prepare, model_hot and native_hot created by bench-proxy):
--   point, point_ps         SELECT c FROM sbtest1 WHERE id = ?            (passthrough as the administrator)
--   model_point, model_point_ps  SELECT … FROM model_hot WHERE name = ?   (a tenant's virtual point lookup)
--   model_point_same        the same lookup with the same text every time (a dashboard's refresh: the plan cache)
--   model_page              100 rows of model_hot by an indexed range (employees holds 1..rows), ordered by id
--   insert_native, insert_model  one INSERT of 1000 rows
-- Each thread brackets its work with two marker statements, so that the backend's general log can be cut to
-- exactly the statements this run caused on the proxy's backend connection.

sysbench.cmdline.options = {
  case = {"statement shape", "point"},
  rows = {"rows in sbtest1 and model_hot", 10000},
}

local function value_rows(n)
  local values = {}
  for i = 1, n do
    local k = sysbench.rand.uniform(1, 1000000)
    values[i] = string.format("('ins%d', %d, 'city%d')", k, k, k % 500)
  end
  return table.concat(values, ", ")
end

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
  case = sysbench.opt.case
  rows = sysbench.opt.rows
  if case == "point_ps" then
    stmt = con:prepare("SELECT c FROM sbtest1 WHERE id = ?")
  elseif case == "model_point_ps" then
    stmt = con:prepare("SELECT id, name, employees, city FROM model_hot WHERE name = ?")
  end
  if stmt then
    param = stmt:bind_create(case == "point_ps" and sysbench.sql.type.INT or sysbench.sql.type.VARCHAR, 64)
    stmt:bind_param(param)
  end
  con:query("SELECT 'bench-proxy-begin'")
end

function event()
  local n = sysbench.rand.uniform(1, rows)
  if case == "point" then
    con:query(string.format("SELECT c FROM sbtest1 WHERE id = %d", n))
  elseif case == "point_ps" then
    param:set(n)
    stmt:execute()
  elseif case == "model_point" then
    con:query(string.format("SELECT id, name, employees, city FROM model_hot WHERE name = 'co%d'", n))
  elseif case == "model_point_same" then
    con:query("SELECT id, name, employees, city FROM model_hot WHERE name = 'co4242'")
  elseif case == "model_point_ps" then
    param:set("co" .. n)
    stmt:execute()
  elseif case == "model_page" then
    local low = sysbench.rand.uniform(1, rows - 100)
    con:query(string.format(
      "SELECT id, name, employees, city FROM model_hot WHERE employees BETWEEN %d AND %d ORDER BY id LIMIT 100",
      low, low + 99))
  elseif case == "insert_native" then
    con:query("INSERT INTO native_hot (name, employees, city) VALUES " .. value_rows(1000))
  elseif case == "insert_model" then
    con:query("INSERT INTO model_hot (name, employees, city) VALUES " .. value_rows(1000))
  else
    error("unknown case " .. case)
  end
end

function thread_done()
  con:query("SELECT 'bench-proxy-end'")
  if stmt then
    stmt:close()
  end
  con:disconnect()
end

// MariaDB Connector/J through the proxy: DatabaseMetaData of a model table, as DBeaver, Metabase and other JDBC
// tools read it. Prints one line per fact. Usage: java -cp mariadb-java-client.jar:. JdbcMetadata url user pw
import java.sql.*;

public class JdbcMetadata {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("product " + meta.getDatabaseProductName());
            try (ResultSet tables = meta.getTables(conn.getCatalog(), null, "model_%", new String[] {"TABLE"})) {
                while (tables.next()) {
                    System.out.println("table " + tables.getString("TABLE_NAME"));
                }
            }
            try (ResultSet columns = meta.getColumns(conn.getCatalog(), null, "model_company", "%")) {
                while (columns.next()) {
                    System.out.println("column " + columns.getString("COLUMN_NAME") + " " + columns.getString("TYPE_NAME")
                        + " " + columns.getInt("DATA_TYPE") + " nullable=" + columns.getString("IS_NULLABLE"));
                }
            }
            try (ResultSet keys = meta.getPrimaryKeys(conn.getCatalog(), null, "model_company")) {
                while (keys.next()) {
                    System.out.println("pk " + keys.getString("COLUMN_NAME"));
                }
            }
            try (ResultSet index = meta.getIndexInfo(conn.getCatalog(), null, "model_company", false, false)) {
                while (index.next()) {
                    System.out.println("index " + index.getString("INDEX_NAME") + " " + index.getString("COLUMN_NAME"));
                }
            }
            try (Statement statement = conn.createStatement();
                 ResultSet rs = statement.executeQuery("SELECT * FROM model_company LIMIT 0")) {
                ResultSetMetaData rsmd = rs.getMetaData();
                for (int i = 1; i <= rsmd.getColumnCount(); i++) {
                    System.out.println("result " + rsmd.getColumnName(i) + " " + rsmd.getColumnTypeName(i));
                }
            }
        }
    }
}

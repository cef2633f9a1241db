// JDBC transactions through MariaDB Connector/J with setAutoCommit(false): rollback, commit, a failed statement
// inside a transaction, savepoints, a rolled-back delete. Prints what a second connection saw after each step, one
// line each, and the error codes seen.
// Usage: java -cp mariadb-java-client.jar:. JdbcTransactions jdbc-url user password   (table model_tx, empty)
import java.sql.*;
import java.util.*;

public class JdbcTransactions {
    static Connection reader;

    static void seen(String label) throws SQLException {
        StringBuilder line = new StringBuilder(label).append(':');
        try (Statement s = reader.createStatement();
             ResultSet rs = s.executeQuery("SELECT tag, n FROM model_tx ORDER BY tag")) {
            while (rs.next()) {
                line.append(' ').append(rs.getString(1)).append('=').append(rs.getObject(2));
            }
        }
        System.out.println(line);
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2];
        Connection writer = DriverManager.getConnection(url, user, password);
        reader = DriverManager.getConnection(url, user, password);
        writer.setAutoCommit(false);
        try (PreparedStatement p = writer.prepareStatement("INSERT INTO model_tx (tag, n) VALUES (?, ?)")) {
            p.setString(1, "a"); p.setInt(2, 1); p.executeUpdate();
            p.setString(1, "b"); p.setInt(2, 2); p.executeUpdate();
        }
        seen("uncommitted insert");
        writer.rollback();
        seen("after rollback");
        Statement s = writer.createStatement();
        s.executeUpdate("INSERT INTO model_tx (tag, n) VALUES ('c', 3)");
        writer.commit();
        seen("after commit");
        s.executeUpdate("UPDATE model_tx SET n = n + 10 WHERE tag = 'c'");
        try {
            s.executeUpdate("INSERT INTO model_tx (tag, n) VALUES (NULL, 4)");
        } catch (SQLException e) {
            System.out.println("error " + e.getErrorCode());
        }
        try (ResultSet rs = s.executeQuery("SELECT n FROM model_tx WHERE tag = 'c'")) {
            rs.next();
            System.out.println("own update kept " + rs.getInt(1));
        }
        writer.rollback();
        seen("update rolled back");
        s.executeUpdate("INSERT INTO model_tx (tag, n) VALUES ('d', 4)");
        Savepoint sp = writer.setSavepoint("s1");
        s.executeUpdate("INSERT INTO model_tx (tag, n) VALUES ('e', 5)");
        writer.rollback(sp);
        writer.commit();
        seen("savepoint");
        s.executeUpdate("DELETE FROM model_tx WHERE tag = 'c'");
        seen("uncommitted delete");
        writer.rollback();
        seen("delete rolled back");
        writer.close();
        seen("closed");
        reader.close();
    }
}

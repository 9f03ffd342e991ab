// Readiness probe for scripts/kafka: one Admin client per client-properties file, each must
// answer a DescribeCluster and a ListTopics within the timeout. Run with Java's single-file
// launcher against the broker's own jars:
//   java -cp "$LIBS/*" scripts/lib/KafkaReady.java TIMEOUT_MS client.properties [more.properties]
// Exit 0 when every listener answered, 1 otherwise (the reason on stderr).
import java.io.FileReader;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterResult;

public class KafkaReady {
    public static void main(String[] args) throws Exception {
        long timeoutMs = Long.parseLong(args[0]);
        for (int i = 1; i < args.length; i++) {
            Properties props = new Properties();
            try (FileReader reader = new FileReader(args[i])) {
                props.load(reader);
            }
            props.put("request.timeout.ms", Long.toString(timeoutMs));
            props.put("default.api.timeout.ms", Long.toString(timeoutMs));
            String where = props.getProperty("bootstrap.servers") + " ("
                    + props.getProperty("security.protocol", "PLAINTEXT") + ")";
            try (Admin admin = Admin.create(props)) {
                DescribeClusterResult cluster = admin.describeCluster();
                int nodes = cluster.nodes().get(timeoutMs, TimeUnit.MILLISECONDS).size();
                String id = cluster.clusterId().get(timeoutMs, TimeUnit.MILLISECONDS);
                int topics = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS).size();
                System.out.println("ready: " + where + ": cluster " + id + ", " + nodes
                        + " broker(s), " + topics + " topic(s)");
            } catch (Exception e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                System.err.println("not ready: " + where + ": " + cause);
                System.exit(1);
            }
        }
    }
}

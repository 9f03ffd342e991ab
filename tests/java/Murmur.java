// Where the Java producer puts a keyed record: reads one key per line on stdin and prints
// `toPositive(murmur2(utf8(key))) % PARTITIONS` per line, exactly as Kafka's
// BuiltInPartitioner.partitionForKey does. Run against the broker's own jars:
//   java -cp "$RELBOT_KAFKA_LIBS/*" tests/java/Murmur.java 3 < keys.txt
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

public class Murmur {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String key = in.readLine(); key != null; key = in.readLine()) {
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            out.append(Utils.toPositive(Utils.murmur2(bytes)) % partitions).append('\n');
        }
        System.out.print(out);
    }
}

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

/**
 * Runs mongo-java-server on host:port, in memory or (with a third argument) persisted in an H2 file.
 * Run in source-file mode: java -cp '<jars>/*' MongoLauncher.java 127.0.0.1 27017 [file.mv.db]
 */
public class MongoLauncher {
  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    MongoBackend backend = args.length > 2 ? new H2Backend(args[2]) : new MemoryBackend();
    // The Node.js driver 6 refuses servers below wire version 8 (MongoDB 4.2); what we use was there in 4.0.
    backend.version(new MongoVersion() {
      public List<Integer> getVersionArray() { return List.of(4, 2, 0); }
      public int getWireVersion() { return 8; }
    });
    MongoServer server = new MongoServer(backend);
    server.bind(host, port);
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
    System.out.println("mongo-java-server ready on " + host + ":" + port + (args.length > 2 ? " (H2: " + args[2] + ")" : " (memory)"));
    Thread.currentThread().join();
  }
}

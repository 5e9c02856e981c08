// LoopbackDynamoDBLocal runs Amazon's DynamoDB Local listening on 127.0.0.1 only.
//
// DynamoDB Local has no option for the address it listens on: its Jetty server is
// built for a port alone, which Jetty binds on every interface. This launcher
// builds the server exactly as DynamoDB Local's own main does, from the same
// command-line options, sets its one connector's host to 127.0.0.1, and starts it.
// (Written for workerfleet's shared/dynamolocal, which compiles it once into its
// cache; it uses nothing of DynamoDB Local but its public ServerRunner and the
// Jetty server it holds.)
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind to 127.0.0.1");
        }
        for (Connector c : connectors) {
            if (!(c instanceof ServerConnector)) {
                throw new IllegalStateException("DynamoDB Local connector " + c + " cannot be bound to 127.0.0.1");
            }
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        proxy.start();
    }
}

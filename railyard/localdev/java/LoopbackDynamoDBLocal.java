/*
 * DynamoDB Local bound to 127.0.0.1 only (railyard/localdev/dynamodb_local.py).
 *
 * DynamoDB Local has no bind-address option: its Jetty server listens on every interface. This
 * launcher takes the same command line as DynamoDBLocal.jar, builds the server with DynamoDB
 * Local's own ServerRunner, sets the host of each of its connectors to the loopback address before
 * the server starts, then runs it. It reaches a private field, so a DynamoDB Local release that
 * renames it fails here, at start, loudly (the platform then names this file).
 */

import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDBLocal {
    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1 only");
        System.out.flush();
        proxy.join();
    }
}

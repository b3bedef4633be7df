import java.lang.reflect.Field;
import java.util.Arrays;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only.
 *
 * <p>DynamoDB Local has no host option and listens on every interface. This launcher builds the
 * server from the usual command line arguments, points each Jetty connector at the loopback
 * address before anything is bound, then starts it. It refuses to start if it finds no connector,
 * or one it cannot restrict, so a change inside the jar fails loudly instead of exposing the
 * database.
 *
 * <p>Telemetry is on by default in DynamoDB Local. This launcher adds -disableTelemetry when the
 * caller left it out, and the Go harness also sets DDB_LOCAL_TELEMETRY=0.
 */
public final class LoopbackDynamoDB {
    private static final String HOST = "127.0.0.1";
    private static final String NO_TELEMETRY = "-disableTelemetry";

    private LoopbackDynamoDB() {}

    public static void main(String[] args) throws Exception {
        String[] serverArgs = withoutTelemetry(args);
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(serverArgs);
        Server jetty = jettyOf(proxy);
        int bound = restrictToLoopback(jetty);
        if (bound == 0) {
            throw new IllegalStateException("no Jetty connector found to bind to " + HOST);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stopQuietly(proxy)));
        proxy.start();
        System.out.println("LoopbackDynamoDB listening on " + HOST + " (" + bound + " connector)");
        proxy.join();
    }

    private static String[] withoutTelemetry(String[] args) {
        if (Arrays.asList(args).contains(NO_TELEMETRY)) {
            return args;
        }
        String[] out = Arrays.copyOf(args, args.length + 1);
        out[args.length] = NO_TELEMETRY;
        return out;
    }

    private static Server jettyOf(DynamoDBProxyServer proxy) throws IllegalAccessException {
        for (Field f : DynamoDBProxyServer.class.getDeclaredFields()) {
            if (Server.class.isAssignableFrom(f.getType())) {
                f.setAccessible(true);
                return (Server) f.get(proxy);
            }
        }
        throw new IllegalStateException("DynamoDBProxyServer has no Jetty Server field");
    }

    private static int restrictToLoopback(Server jetty) {
        int n = 0;
        for (Connector c : jetty.getConnectors()) {
            if (!(c instanceof ServerConnector)) {
                throw new IllegalStateException("cannot restrict connector " + c.getClass());
            }
            ((ServerConnector) c).setHost(HOST);
            n++;
        }
        return n;
    }

    private static void stopQuietly(DynamoDBProxyServer proxy) {
        try {
            proxy.stop();
        } catch (Exception e) {
            System.err.println("LoopbackDynamoDB stop: " + e);
        }
    }
}

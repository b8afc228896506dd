package io.transitstatus.opensearch;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch node built from Maven Central jars, for transit-status's embedded platform.
 *
 * <p>A distribution loads its modules from directories; here the same plugins are on the classpath
 * and handed to the node by class, which is what {@link Node}'s protected constructor is for.
 * Usage: {@code EmbeddedNode <home>}; the settings are read from {@code <home>/config/opensearch.yml}.
 * SIGTERM closes the node (flushing its shards) before the JVM exits.
 */
public final class EmbeddedNode {
    private static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class, // HTTP and transport: without it the node has no HTTP port
        PainlessPlugin.class,
        CommonAnalysisPlugin.class,
        MapperExtrasPlugin.class,
        MatrixAggregationPlugin.class,
        ReindexPlugin.class,
        ParentJoinPlugin.class
    );
    private static final long CLOSE_TIMEOUT_S = 10;

    private static final class ClasspathPluginsNode extends Node {
        ClasspathPluginsNode(Environment environment) {
            super(environment, PLUGINS, true);
        }
    }

    private EmbeddedNode() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: EmbeddedNode <home directory holding config/opensearch.yml>");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        Path config = home.resolve("config");
        Settings settings = Settings.builder()
            .loadFromPath(config.resolve("opensearch.yml"))
            .put("path.home", home.toString())
            .build();
        // Logging is log4j2's own configuration (-Dlog4j2.configurationFile, console): the supervisor
        // writes this process's output to the service's log file. OpenSearch's LogConfigurator would
        // want a distribution's config and logs layout instead.

        Node node = new ClasspathPluginsNode(new Environment(settings, config));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(CLOSE_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (Exception error) {
                error.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "opensearch-close"));
        try {
            node.start();
        } catch (Exception error) {
            error.printStackTrace();
            System.exit(1);
        }
        closed.await();
    }
}

package io.transitstatus.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import org.apache.avro.Schema;

/**
 * Schemas by id from a Confluent-compatible Schema Registry ({@code GET /schemas/ids/<id>}), for both SQL
 * functions. With a registry that requires basic auth (Confluent Cloud), the credentials come from the
 * TaskManager's environment, {@value #USER_INFO_ENV} = {@code user:password} (Confluent's
 * {@code basic.auth.user.info}): never from the SQL, whose text the gateway logs and the web UI shows.
 */
public final class RegistrySchemas {
    public static final String USER_INFO_ENV = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO";

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final ObjectMapper json = new ObjectMapper();
    private final String authorization;

    /** Credentials from the environment, if it has them. */
    public RegistrySchemas() {
        this(System.getenv(USER_INFO_ENV));
    }

    /** {@code userInfo}: {@code user:password}, or null or empty for a registry without auth. */
    public RegistrySchemas(String userInfo) {
        authorization = userInfo == null || userInfo.isEmpty()
                ? null
                : "Basic " + Base64.getEncoder().encodeToString(userInfo.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The schema with this id, or null when the registry does not know it (404). A registry that cannot
     * be reached, refuses the credentials or answers otherwise throws: that is no record's fault, so the
     * job restarts from its last checkpoint instead of reading good records as bad.
     */
    public Schema fetch(String registryUrl, int schemaId) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + schemaId))
                .timeout(Duration.ofSeconds(10))
                .GET();
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        HttpResponse<String> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException("Schema Registry at " + registryUrl + " cannot be reached", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while fetching schema " + schemaId, e);
        }
        int status = response.statusCode();
        if (status == 404) {
            return null;
        }
        if (status == 401 || status == 403) {
            throw new IllegalStateException("Schema Registry at " + registryUrl + " answered " + status
                    + " for schema id " + schemaId + (authorization == null
                            ? ": it needs credentials (" + USER_INFO_ENV + " in the TaskManager's environment)"
                            : ": it refused the credentials in " + USER_INFO_ENV));
        }
        if (status != 200) {
            throw new IllegalStateException("Schema Registry answered " + status + " for schema id " + schemaId);
        }
        try {
            JsonNode body = json.readTree(response.body());
            return new Schema.Parser().parse(body.get("schema").asText());
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("Schema Registry returned an unreadable schema " + schemaId, e);
        }
    }
}

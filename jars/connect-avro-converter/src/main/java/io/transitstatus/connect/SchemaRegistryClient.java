package io.transitstatus.connect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;

/**
 * The two calls of Confluent's Schema Registry REST API the converter needs: register a schema under a
 * subject (its id back; the registry answers the same id for a schema it has already), and a schema by id.
 *
 * <p>A registry that cannot be reached, or answers 5xx, is a {@link RetriableException}: Connect retries
 * the conversion within the connector's {@code errors.retry.timeout}. A 4xx (an incompatible or invalid
 * schema, an unknown id) is the data's fault: a {@link DataException} with the registry's own message.
 */
final class SchemaRegistryClient {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int MAX_MESSAGE = 500;

    private final String baseUrl;
    private final HttpClient http;
    private final ObjectMapper json = new ObjectMapper();

    /** The Authorization header's value, or null for a registry without auth. */
    private final String authorization;

    SchemaRegistryClient(String baseUrl, String userInfo) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.authorization = userInfo == null || userInfo.isEmpty()
                ? null
                : "Basic " + Base64.getEncoder().encodeToString(userInfo.getBytes(StandardCharsets.UTF_8));
        // HTTP/1.1: the default HTTP/2 asks a plain-http server to upgrade (h2c), and a server that does not
        // (ours, uvicorn) then reads a POST without its body.
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    /** Registers {@code schema} (Avro JSON) under {@code subject}; its global id. */
    int register(String subject, String schema) {
        String body;
        try {
            body = json.writeValueAsString(Map.of("schema", schema));
        } catch (IOException e) {
            throw new DataException("cannot write the registration request for subject " + subject, e);
        }
        String path = "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8).replace("+", "%20") + "/versions";
        HttpRequest request = request(path)
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        JsonNode answer = send(request, "registering a schema under subject " + subject);
        JsonNode id = answer.get("id");
        if (id == null || !id.canConvertToInt()) {
            throw new DataException("Schema Registry answered no schema id for subject " + subject + ": " + answer);
        }
        return id.intValue();
    }

    /** The Avro schema (JSON text) registered under {@code id}. */
    String schema(int id) {
        HttpRequest request = request("/schemas/ids/" + id)
                .GET()
                .build();
        JsonNode answer = send(request, "fetching schema id " + id);
        JsonNode type = answer.get("schemaType");
        if (type != null && !type.isNull() && !"AVRO".equals(type.asText())) {
            throw new DataException("schema id " + id + " is " + type.asText() + ", not Avro");
        }
        JsonNode schema = answer.get("schema");
        if (schema == null || !schema.isTextual()) {
            throw new DataException("Schema Registry answered no schema for id " + id);
        }
        return schema.asText();
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(TIMEOUT);
        return authorization == null ? builder : builder.header("Authorization", authorization);
    }

    private JsonNode send(HttpRequest request, String what) {
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new RetriableException("Schema Registry at " + baseUrl + " cannot be reached (" + what + "): " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RetriableException("interrupted while " + what, e);
        }
        int status = response.statusCode();
        String text = response.body() == null ? "" : response.body();
        if (status >= 500) {
            throw new RetriableException("Schema Registry answered " + status + " " + truncate(text) + " (" + what + ")");
        }
        if (status != 200) {
            throw new DataException("Schema Registry refused " + what + ": " + status + " " + truncate(text));
        }
        try {
            return json.readTree(text);
        } catch (IOException e) {
            throw new DataException("Schema Registry answered no JSON while " + what + ": " + truncate(text), e);
        }
    }

    private static String truncate(String text) {
        return text.length() <= MAX_MESSAGE ? text : text.substring(0, MAX_MESSAGE) + "...";
    }
}

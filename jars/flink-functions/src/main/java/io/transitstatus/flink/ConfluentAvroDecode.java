package io.transitstatus.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;

/**
 * {@code LATERAL TABLE(CONFLUENT_AVRO_DECODE(key, value, registry_url))}: a Kafka record's key and value in
 * Confluent's wire format (magic byte 0, 4-byte schema id, Avro binary) decoded against the Schema Registry
 * into its top-level fields, or the reason it cannot be.
 *
 * <p>Exactly one row per record: {@code (key_fields, value_fields, error)}. The field maps hold each top-level
 * field of the Avro record as text (strings as they are, numbers in decimal, null as SQL NULL), which SQL
 * reads with {@code TRY_CAST(value_fields['station_id'] AS INT)}: a map lookup, far cheaper than rendering
 * JSON and parsing it again with {@code JSON_VALUE}. {@code error} is null when both decode; otherwise it
 * says what is wrong (for the {@code dlq.error} header) and the maps are null.
 * Why not Flink's {@code avro-confluent} format: it fails the whole job on one bad record, and the job then
 * restarts into the same record forever. Here a bad record is data, routed by SQL to the dead-letter topic.
 *
 * <p>A registry that cannot be reached is not the record's fault: that throws, so the job fails, restarts
 * from its last checkpoint and tries again, rather than dead-lettering good records.
 */
// Rows in Flink's internal structures (RowData, StringData): no conversion from Java maps and strings per
// record, which cost more than the decoding itself.
@FunctionHint(
        output = @DataTypeHint(
                value = "ROW<key_fields MAP<STRING, STRING>, value_fields MAP<STRING, STRING>, error STRING>",
                bridgedTo = RowData.class))
public class ConfluentAvroDecode extends TableFunction<RowData> {
    private static final byte MAGIC_BYTE = 0;
    private static final int HEADER_LENGTH = 5;
    private static final int MAX_ERROR_LENGTH = 300;

    private transient HttpClient http;
    private transient ObjectMapper json;
    private transient Map<Integer, GenericDatumReader<Object>> readers;
    private transient Map<Integer, String> unknownIds;
    private transient BinaryDecoder reusedDecoder;
    private transient Map<String, StringData> fieldNames;

    @Override
    public void open(FunctionContext context) {
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        json = new ObjectMapper();
        readers = new ConcurrentHashMap<>();
        unknownIds = new ConcurrentHashMap<>();
        fieldNames = new HashMap<>();
    }

    public void eval(byte[] key, byte[] value, String registryUrl) {
        Map<StringData, StringData> keyFields;
        Map<StringData, StringData> valueFields;
        try {
            keyFields = decode(key, registryUrl);
        } catch (BadRecord bad) {
            collect(GenericRowData.of(null, null, StringData.fromString(truncate("key: " + bad.getMessage()))));
            return;
        }
        try {
            valueFields = decode(value, registryUrl);
        } catch (BadRecord bad) {
            collect(GenericRowData.of(null, null, StringData.fromString(truncate("value: " + bad.getMessage()))));
            return;
        }
        collect(GenericRowData.of(new GenericMapData(keyFields), new GenericMapData(valueFields), null));
    }

    private Map<StringData, StringData> decode(byte[] bytes, String registryUrl) throws BadRecord {
        if (bytes == null) {
            throw new BadRecord("missing (null)");
        }
        if (bytes.length < HEADER_LENGTH || bytes[0] != MAGIC_BYTE) {
            throw new BadRecord("not Confluent Avro (no magic byte 0 and 4-byte schema id)");
        }
        int schemaId = ByteBuffer.wrap(bytes, 1, 4).getInt();
        GenericDatumReader<Object> reader = reader(schemaId, registryUrl);
        reusedDecoder = DecoderFactory.get()
                .binaryDecoder(bytes, HEADER_LENGTH, bytes.length - HEADER_LENGTH, reusedDecoder);
        Object datum;
        try {
            datum = reader.read(null, reusedDecoder);
            if (!reusedDecoder.isEnd()) {
                throw new BadRecord("does not match its schema (id " + schemaId + "): bytes left over");
            }
        } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new BadRecord("does not match its schema (id " + schemaId + "): " + e);
        }
        if (!(datum instanceof GenericRecord record)) {
            throw new BadRecord("schema id " + schemaId + " is not an Avro record");
        }
        List<Schema.Field> schemaFields = record.getSchema().getFields();
        Map<StringData, StringData> fields = new HashMap<>(schemaFields.size() * 2);
        for (Schema.Field field : schemaFields) {
            Object fieldValue = record.get(field.pos());
            fields.put(fieldName(field.name()), fieldValue == null ? null : fieldText(fieldValue));
        }
        return fields;
    }

    private StringData fieldName(String name) {
        return fieldNames.computeIfAbsent(name, StringData::fromString);
    }

    private static StringData fieldText(Object fieldValue) {
        // Avro strings arrive as Utf8: their bytes are already UTF-8, as StringData keeps them.
        if (fieldValue instanceof Utf8 utf8) {
            return StringData.fromBytes(utf8.getBytes(), 0, utf8.getByteLength());
        }
        if (fieldValue instanceof CharSequence || fieldValue instanceof Number || fieldValue instanceof Boolean) {
            return StringData.fromString(fieldValue.toString());
        }
        // Records, arrays, maps, bytes: their JSON-like rendering.
        return StringData.fromString(GenericData.get().toString(fieldValue));
    }

    private GenericDatumReader<Object> reader(int schemaId, String registryUrl) throws BadRecord {
        GenericDatumReader<Object> reader = readers.get(schemaId);
        if (reader != null) {
            return reader;
        }
        String unknown = unknownIds.get(schemaId);
        if (unknown != null) {
            throw new BadRecord(unknown);
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + schemaId))
                .timeout(Duration.ofSeconds(10))
                .GET()
                .build();
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException("Schema Registry at " + registryUrl + " cannot be reached", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while fetching schema " + schemaId, e);
        }
        if (response.statusCode() == 404) {
            // Remembered (bounded): a stream of records with a bogus id must not become a stream of requests.
            String reason = "schema id " + schemaId + " is not in the Schema Registry";
            if (unknownIds.size() < 10_000) {
                unknownIds.put(schemaId, reason);
            }
            throw new BadRecord(reason);
        }
        if (response.statusCode() != 200) {
            throw new IllegalStateException(
                    "Schema Registry answered " + response.statusCode() + " for schema id " + schemaId);
        }
        try {
            JsonNode body = json.readTree(response.body());
            Schema schema = new Schema.Parser().parse(body.get("schema").asText());
            reader = new GenericDatumReader<>(schema);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("Schema Registry returned an unreadable schema " + schemaId, e);
        }
        readers.put(schemaId, reader);
        return reader;
    }

    private static String truncate(String reason) {
        return reason.length() <= MAX_ERROR_LENGTH ? reason : reason.substring(0, MAX_ERROR_LENGTH);
    }

    /** The record itself is wrong: it goes to the dead-letter topic, with this message as the reason. */
    private static final class BadRecord extends Exception {
        BadRecord(String message) {
            super(message, null, false, false);
        }
    }
}

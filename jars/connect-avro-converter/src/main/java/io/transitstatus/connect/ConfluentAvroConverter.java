package io.transitstatus.connect;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.SchemaParseException;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.storage.Converter;

/**
 * Kafka Connect data as Avro in Confluent's wire format (magic byte 0, the schema's 4-byte big-endian id in
 * the Schema Registry, Avro binary), against any registry that speaks Confluent's REST API, ours included.
 *
 * <p>Writing, each Connect schema is turned into an Avro schema ({@link AvroData}) and registered once
 * under the subject {@code <topic>-value} ({@code <topic>-key} for keys): Confluent's TopicNameStrategy.
 * Reading, each schema id is fetched once. A null value is a null record (a tombstone stays a tombstone).
 *
 * <pre>
 * value.converter=io.transitstatus.connect.ConfluentAvroConverter
 * value.converter.schema.registry.url=http://127.0.0.1:8081
 * </pre>
 */
public class ConfluentAvroConverter implements Converter {
    public static final String SCHEMA_REGISTRY_URL = "schema.registry.url";
    /** {@code user:password} for a registry with HTTP basic auth (Confluent's name for the setting). */
    public static final String BASIC_AUTH_USER_INFO = "basic.auth.user.info";
    private static final byte MAGIC_BYTE = 0;
    private static final int HEADER_LENGTH = 5;
    /** Bounds the caches: a source whose schema changes with every record must not grow them forever. */
    private static final int MAX_CACHED_SCHEMAS = 1_000;

    private static final ConfigDef CONFIG = new ConfigDef().define(
            SCHEMA_REGISTRY_URL,
            ConfigDef.Type.STRING,
            ConfigDef.NO_DEFAULT_VALUE,
            ConfigDef.Importance.HIGH,
            "Base URL of the Schema Registry (Confluent's REST API), e.g. http://127.0.0.1:8081")
            .define(
                    BASIC_AUTH_USER_INFO,
                    ConfigDef.Type.PASSWORD,
                    null,
                    ConfigDef.Importance.MEDIUM,
                    "user:password for a registry with HTTP basic auth; none by default");

    private SchemaRegistryClient registry;
    private boolean isKey;
    private final Map<String, Map<Schema, Writer>> writersBySubject = new ConcurrentHashMap<>();
    private final Map<Integer, Reader> readers = new ConcurrentHashMap<>();
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private BinaryEncoder encoder;
    private BinaryDecoder decoder;

    /** One registered schema and its writer. */
    private record Writer(org.apache.avro.Schema avro, int id, GenericDatumWriter<Object> writer) {}

    /** One fetched schema, its Connect schema and its reader. */
    private record Reader(Schema connect, GenericDatumReader<Object> reader) {}

    @Override
    public ConfigDef config() {
        return CONFIG;
    }

    @Override
    public String version() {
        return "1";
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
        AbstractConfig config = new AbstractConfig(CONFIG, configs);
        Password userInfo = config.getPassword(BASIC_AUTH_USER_INFO);
        this.registry = new SchemaRegistryClient(
                config.getString(SCHEMA_REGISTRY_URL), userInfo == null ? null : userInfo.value());
        this.isKey = isKey;
    }

    @Override
    public byte[] fromConnectData(String topic, Schema schema, Object value) {
        if (value == null) {
            return null;
        }
        if (schema == null) {
            throw new DataException(what(topic) + " has no schema: Avro needs one (schemaless data: use JsonConverter)");
        }
        Writer writer = writer(subject(topic), schema);
        Object datum = AvroData.toAvroValue(schema, writer.avro(), value, what(topic));
        synchronized (buffer) {
            buffer.reset();
            buffer.write(MAGIC_BYTE);
            buffer.writeBytes(ByteBuffer.allocate(4).putInt(writer.id()).array());
            try {
                encoder = EncoderFactory.get().binaryEncoder(buffer, encoder);
                writer.writer().write(datum, encoder);
                encoder.flush();
            } catch (IOException | AvroRuntimeException e) {
                throw new DataException(what(topic) + " cannot be written with its schema: " + e.getMessage(), e);
            }
            return buffer.toByteArray();
        }
    }

    private Writer writer(String subject, Schema schema) {
        Map<Schema, Writer> writers = writersBySubject.computeIfAbsent(subject, ignored -> new ConcurrentHashMap<>());
        Writer writer = writers.get(schema);
        if (writer != null) {
            return writer;
        }
        org.apache.avro.Schema avro = AvroData.toAvroSchema(schema);
        int id = registry.register(subject, avro.toString());
        writer = new Writer(avro, id, new GenericDatumWriter<>(avro, GenericData.get()));
        if (writers.size() >= MAX_CACHED_SCHEMAS) {
            writers.clear();
        }
        writers.put(schema, writer);
        return writer;
    }

    @Override
    public SchemaAndValue toConnectData(String topic, byte[] value) {
        if (value == null) {
            return SchemaAndValue.NULL;
        }
        if (value.length < HEADER_LENGTH || value[0] != MAGIC_BYTE) {
            throw new DataException(what(topic) + " is not Confluent Avro (no magic byte 0 and 4-byte schema id)");
        }
        int id = ByteBuffer.wrap(value, 1, 4).getInt();
        Reader reader = reader(id);
        Object datum;
        synchronized (readers) {
            decoder = DecoderFactory.get().binaryDecoder(value, HEADER_LENGTH, value.length - HEADER_LENGTH, decoder);
            try {
                datum = reader.reader().read(null, decoder);
                if (!decoder.isEnd()) {
                    throw new DataException(what(topic) + " does not match schema id " + id + ": bytes left over");
                }
            } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
                throw new DataException(what(topic) + " does not match schema id " + id + ": " + e, e);
            }
        }
        return new SchemaAndValue(reader.connect(), AvroData.toConnectValue(reader.connect(), datum, what(topic)));
    }

    private Reader reader(int id) {
        Reader reader = readers.get(id);
        if (reader != null) {
            return reader;
        }
        org.apache.avro.Schema avro;
        try {
            avro = new org.apache.avro.Schema.Parser().parse(registry.schema(id));
        } catch (SchemaParseException e) {
            throw new DataException("schema id " + id + " is not a valid Avro schema: " + e.getMessage(), e);
        }
        reader = new Reader(AvroData.toConnectSchema(avro), new GenericDatumReader<>(avro));
        if (readers.size() >= MAX_CACHED_SCHEMAS) {
            readers.clear();
        }
        readers.put(id, reader);
        return reader;
    }

    private String subject(String topic) {
        return topic + (isKey ? "-key" : "-value");
    }

    private String what(String topic) {
        return (isKey ? "key" : "value") + " of a record for " + topic;
    }
}

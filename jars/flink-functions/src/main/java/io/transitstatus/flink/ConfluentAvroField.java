package io.transitstatus.flink;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code CONFLUENT_AVRO_FIELD(bytes, 'registry url', 'field')}: one top-level field of a record in Confluent's
 * wire format, as text, or NULL when the bytes are null, not Confluent Avro, of an unknown schema id, do not
 * decode, or have no such field (or it is null).
 *
 * <p>A scalar function, for where {@code CONFLUENT_AVRO_DECODE} (a table function) cannot go: a computed
 * column, such as the one a table's watermark is defined on. It reports no reasons: the rows themselves are
 * decoded, with their errors, by {@code CONFLUENT_AVRO_DECODE}. A registry that cannot be reached throws, as
 * there: the job restarts from its last checkpoint instead of reading good records as bad.
 */
public class ConfluentAvroField extends ScalarFunction {
    private static final byte MAGIC_BYTE = 0;
    private static final int HEADER_LENGTH = 5;

    private transient RegistrySchemas schemas;
    private transient Map<Integer, GenericDatumReader<Object>> readers;
    private transient Map<Integer, Boolean> unknownIds;
    private transient BinaryDecoder reusedDecoder;

    @Override
    public void open(FunctionContext context) {
        schemas = new RegistrySchemas();
        readers = new ConcurrentHashMap<>();
        unknownIds = new ConcurrentHashMap<>();
    }

    public String eval(byte[] bytes, String registryUrl, String field) {
        if (bytes == null || bytes.length < HEADER_LENGTH || bytes[0] != MAGIC_BYTE || field == null) {
            return null;
        }
        int schemaId = ByteBuffer.wrap(bytes, 1, 4).getInt();
        GenericDatumReader<Object> reader = reader(schemaId, registryUrl);
        if (reader == null) {
            return null;
        }
        reusedDecoder = DecoderFactory.get()
                .binaryDecoder(bytes, HEADER_LENGTH, bytes.length - HEADER_LENGTH, reusedDecoder);
        Object datum;
        try {
            datum = reader.read(null, reusedDecoder);
        } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            return null;
        }
        if (!(datum instanceof GenericRecord record) || record.getSchema().getField(field) == null) {
            return null;
        }
        Object value = record.get(field);
        return value == null ? null : value.toString();
    }

    private GenericDatumReader<Object> reader(int schemaId, String registryUrl) {
        GenericDatumReader<Object> reader = readers.get(schemaId);
        if (reader != null || unknownIds.containsKey(schemaId)) {
            return reader;
        }
        Schema schema = schemas.fetch(registryUrl, schemaId);
        if (schema == null) {
            if (unknownIds.size() < 10_000) {  // bounded: a stream of bogus ids must not grow it for ever
                unknownIds.put(schemaId, Boolean.TRUE);
            }
            return null;
        }
        reader = new GenericDatumReader<>(schema);
        readers.put(schemaId, reader);
        return reader;
    }
}

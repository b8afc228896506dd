package io.transitstatus.flink;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.CallContext;
import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.LogicalTypeFamily;

/**
 * {@code LATERAL TABLE(CONFLUENT_AVRO_DECODE(key, value, 'registry url', 'key columns', 'value columns'))}:
 * a Kafka record's key and value in Confluent's wire format (magic byte 0, 4-byte schema id, Avro binary),
 * decoded against the Schema Registry into the columns asked for, or the reason they cannot be.
 *
 * <p>The columns are written like a table's, e.g. {@code 'station_id INT, station_name STRING'} (types INT,
 * BIGINT, DOUBLE, BOOLEAN, STRING), and name top-level fields of the Avro record. The function returns
 * exactly one row per record: {@code (key_fields ROW<key columns>, value_fields ROW<value columns>,
 * error STRING)}. {@code error} is null when both decode into the columns; otherwise it says what is wrong
 * (for the {@code dlq.error} header) and the rows are null. A field that is absent or of another Avro type
 * is an error; a null field is SQL NULL.
 *
 * <p>Why not Flink's {@code avro-confluent} format: it fails the whole job on one bad record, and the job
 * then restarts into the same record forever. Here a bad record is data, routed by SQL to the dead-letter
 * topic. A registry that cannot be reached is not the record's fault: that throws, so the job fails,
 * restarts from its last checkpoint and tries again, rather than dead-lettering good records.
 *
 * <p>Rows are built in Flink's internal structures (RowData, StringData, Avro's UTF-8 bytes kept as they
 * are): converting Java objects per record would cost more than the decoding.
 */
public class ConfluentAvroDecode extends TableFunction<RowData> {
    private static final byte MAGIC_BYTE = 0;
    private static final int HEADER_LENGTH = 5;
    private static final int MAX_ERROR_LENGTH = 300;

    private transient RegistrySchemas schemas;
    private transient Map<Integer, GenericDatumReader<Object>> readers;
    private transient Map<Integer, String> unknownIds;
    private transient BinaryDecoder reusedDecoder;
    private transient List<Column> keyColumnList;
    private transient List<Column> valueColumnList;

    @Override
    public void open(FunctionContext context) {
        schemas = new RegistrySchemas();
        readers = new ConcurrentHashMap<>();
        unknownIds = new ConcurrentHashMap<>();
    }

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return TypeInference.newBuilder()
                .inputTypeStrategy(InputTypeStrategies.sequence(
                        InputTypeStrategies.logical(LogicalTypeFamily.BINARY_STRING),
                        InputTypeStrategies.logical(LogicalTypeFamily.BINARY_STRING),
                        InputTypeStrategies.logical(LogicalTypeFamily.CHARACTER_STRING),
                        InputTypeStrategies.and(
                                InputTypeStrategies.LITERAL,
                                InputTypeStrategies.logical(LogicalTypeFamily.CHARACTER_STRING)),
                        InputTypeStrategies.and(
                                InputTypeStrategies.LITERAL,
                                InputTypeStrategies.logical(LogicalTypeFamily.CHARACTER_STRING))))
                .outputTypeStrategy(call -> Optional.of(outputType(call)))
                .build();
    }

    private static DataType outputType(CallContext call) {
        return DataTypes.ROW(
                        DataTypes.FIELD("key_fields", columnsType(call, 3)),
                        DataTypes.FIELD("value_fields", columnsType(call, 4)),
                        DataTypes.FIELD("error", DataTypes.STRING()))
                .bridgedTo(RowData.class);
    }

    private static DataType columnsType(CallContext call, int argument) {
        String spec = call.getArgumentValue(argument, String.class)
                .orElseThrow(() -> call.newValidationError("CONFLUENT_AVRO_DECODE: column lists must be literals"));
        List<DataTypes.Field> fields = new ArrayList<>();
        try {
            for (Column column : Column.parse(spec)) {
                fields.add(DataTypes.FIELD(column.name, column.type.dataType()));
            }
        } catch (IllegalArgumentException e) {
            throw call.newValidationError("CONFLUENT_AVRO_DECODE: %s", e.getMessage());
        }
        return DataTypes.ROW(fields.toArray(new DataTypes.Field[0])).bridgedTo(RowData.class);
    }

    public void eval(byte[] key, byte[] value, String registryUrl, String keyColumns, String valueColumns) {
        if (keyColumnList == null) {
            keyColumnList = Column.parse(keyColumns);
            valueColumnList = Column.parse(valueColumns);
        }
        GenericRowData keyFields;
        GenericRowData valueFields;
        try {
            keyFields = decode(key, registryUrl, keyColumnList);
        } catch (BadRecord bad) {
            collect(GenericRowData.of(null, null, StringData.fromString(truncate("key: " + bad.getMessage()))));
            return;
        }
        try {
            valueFields = decode(value, registryUrl, valueColumnList);
        } catch (BadRecord bad) {
            collect(GenericRowData.of(null, null, StringData.fromString(truncate("value: " + bad.getMessage()))));
            return;
        }
        collect(GenericRowData.of(keyFields, valueFields, null));
    }

    private GenericRowData decode(byte[] bytes, String registryUrl, List<Column> columns) throws BadRecord {
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
        GenericRowData row = new GenericRowData(columns.size());
        for (int i = 0; i < columns.size(); i++) {
            Column column = columns.get(i);
            Schema.Field field = record.getSchema().getField(column.name);
            if (field == null) {
                throw new BadRecord("has no field " + column.name + " (schema id " + schemaId + ")");
            }
            Object avro = record.get(field.pos());
            row.setField(i, avro == null ? null : column.type.convert(column.name, avro));
        }
        return row;
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
        Schema schema = schemas.fetch(registryUrl, schemaId);
        if (schema == null) {
            // Remembered (bounded): a stream of records with a bogus id must not become a stream of requests.
            String reason = "schema id " + schemaId + " is not in the Schema Registry";
            if (unknownIds.size() < 10_000) {
                unknownIds.put(schemaId, reason);
            }
            throw new BadRecord(reason);
        }
        reader = new GenericDatumReader<>(schema);
        readers.put(schemaId, reader);
        return reader;
    }

    private static String truncate(String reason) {
        return reason.length() <= MAX_ERROR_LENGTH ? reason : reason.substring(0, MAX_ERROR_LENGTH);
    }

    /** The column types this function fills, and the Avro values each accepts. */
    enum ColumnType {
        INT,
        BIGINT,
        DOUBLE,
        BOOLEAN,
        STRING;

        Object convert(String name, Object avro) throws BadRecord {
            switch (this) {
                case INT:
                    if (avro instanceof Integer) {
                        return avro;
                    }
                    break;
                case BIGINT:
                    if (avro instanceof Integer || avro instanceof Long) {
                        return ((Number) avro).longValue();
                    }
                    break;
                case DOUBLE:
                    if (avro instanceof Number number) {
                        return number.doubleValue();
                    }
                    break;
                case BOOLEAN:
                    if (avro instanceof Boolean) {
                        return avro;
                    }
                    break;
                case STRING:
                    if (avro instanceof Utf8 utf8) {
                        return StringData.fromBytes(utf8.getBytes(), 0, utf8.getByteLength());
                    }
                    if (avro instanceof CharSequence text) {
                        return StringData.fromString(text.toString());
                    }
                    break;
                default:
                    break;
            }
            throw new BadRecord("field " + name + " is " + avro.getClass().getSimpleName() + ", not " + this);
        }

        DataType dataType() {
            return switch (this) {
                case INT -> DataTypes.INT();
                case BIGINT -> DataTypes.BIGINT();
                case DOUBLE -> DataTypes.DOUBLE();
                case BOOLEAN -> DataTypes.BOOLEAN();
                case STRING -> DataTypes.STRING();
            };
        }

        static ColumnType parse(String type) {
            return switch (type.trim().toUpperCase(Locale.ROOT)) {
                case "INT", "INTEGER" -> INT;
                case "BIGINT" -> BIGINT;
                case "DOUBLE" -> DOUBLE;
                case "BOOLEAN" -> BOOLEAN;
                case "STRING", "VARCHAR" -> STRING;
                default -> throw new IllegalArgumentException(
                        "unsupported column type " + type.trim() + " (INT, BIGINT, DOUBLE, BOOLEAN, STRING)");
            };
        }
    }

    /** One requested column: {@code name TYPE}. */
    static final class Column {
        final String name;
        final ColumnType type;

        Column(String name, ColumnType type) {
            this.name = name;
            this.type = type;
        }

        static List<Column> parse(String spec) {
            List<Column> columns = new ArrayList<>();
            for (String part : spec.split(",")) {
                String[] words = part.trim().split("\\s+", 2);
                if (words.length != 2 || words[0].isEmpty()) {
                    throw new IllegalArgumentException("column '" + part.trim() + "' is not 'name TYPE'");
                }
                columns.add(new Column(words[0].replace("`", ""), ColumnType.parse(words[1])));
            }
            return columns;
        }
    }

    /** The record itself is wrong: it goes to the dead-letter topic, with this message as the reason. */
    static final class BadRecord extends Exception {
        BadRecord(String message) {
            super(message, null, false, false);
        }
    }
}

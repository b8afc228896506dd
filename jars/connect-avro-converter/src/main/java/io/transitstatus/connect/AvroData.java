package io.transitstatus.connect;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.avro.JsonProperties;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;

/**
 * Kafka Connect schemas and values to Avro and back, in the conventions Confluent's converter uses, so a
 * record written here reads alike with any Confluent Avro reader (and the Connect schema survives a round
 * trip: the {@code connect.*} properties keep what Avro has no place for).
 *
 * <p>Mapped: INT8/INT16 (Avro int with {@code connect.type}), INT32, INT64, FLOAT32, FLOAT64, BOOLEAN,
 * STRING, BYTES, ARRAY, MAP with STRING keys, STRUCT (record), optional (a union with null), Connect's
 * Decimal (bytes, logical type decimal), Date (date), Time (time-millis), Timestamp (timestamp-millis),
 * defaults of primitive and logical types, and the names, versions, docs and parameters of schemas (such
 * as Debezium's {@code io.debezium.time.ZonedTimestamp}).
 *
 * <p>Refused with a {@link DataException} that says why (never written differently): maps whose keys are
 * not strings, field names that are not Avro names, two different structs under one name, schemaless
 * values, and, when reading, unions of more than one non-null type and a bare null schema.
 */
final class AvroData {
    static final String CONNECT_NAME = "connect.name";
    static final String CONNECT_VERSION = "connect.version";
    static final String CONNECT_DOC = "connect.doc";
    static final String CONNECT_PARAMETERS = "connect.parameters";
    static final String CONNECT_TYPE = "connect.type";
    /** The namespace of structs that have no name in Connect (Avro requires one). */
    static final String DEFAULT_NAMESPACE = "io.transitstatus.connect";
    static final String DEFAULT_NAME = "ConnectDefault";
    /** Debezium's (and Confluent's) parameter for a decimal's precision, which Connect's Decimal lacks. */
    static final String DECIMAL_PRECISION = "connect.decimal.precision";
    /** Avro needs a precision; Connect's Decimal has none unless a parameter says it (Confluent's choice). */
    static final int DEFAULT_DECIMAL_PRECISION = 64;

    private static final Pattern AVRO_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern NOT_NAME_CHARACTER = Pattern.compile("[^A-Za-z0-9_]");

    private AvroData() {}

    // ---- Connect to Avro -----------------------------------------------------------------------------

    /** The Avro schema of values of {@code schema}; a top-level null is a null record (a tombstone). */
    static org.apache.avro.Schema toAvroSchema(Schema schema) {
        return new ToAvro().type(schema, "value");
    }

    /** Names already defined in one Avro schema: Avro allows each once, later uses are references. */
    private static final class ToAvro {
        private final Map<String, Schema> connectByName = new HashMap<>();
        private final Map<String, org.apache.avro.Schema> avroByName = new HashMap<>();
        private int unnamed;

        /** The schema of a field, element or map value: a union with null first when optional and null by default. */
        org.apache.avro.Schema member(Schema schema, String path) {
            org.apache.avro.Schema type = type(schema, path);
            if (!schema.isOptional()) {
                return type;
            }
            org.apache.avro.Schema nullType = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.NULL);
            // A union's default must be of its first type: null first unless the default is a value.
            return schema.defaultValue() == null
                    ? org.apache.avro.Schema.createUnion(nullType, type)
                    : org.apache.avro.Schema.createUnion(type, nullType);
        }

        /** The schema's own type, optional or not. */
        org.apache.avro.Schema type(Schema schema, String path) {
            String name = schema.name();
            org.apache.avro.Schema avro;
            if (Decimal.LOGICAL_NAME.equals(name)) {
                avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.BYTES);
                LogicalTypes.decimal(decimalPrecision(schema, path), decimalScale(schema, path)).addToSchema(avro);
            } else if (Date.LOGICAL_NAME.equals(name)) {
                avro = LogicalTypes.date().addToSchema(org.apache.avro.Schema.create(org.apache.avro.Schema.Type.INT));
            } else if (Time.LOGICAL_NAME.equals(name)) {
                avro = LogicalTypes.timeMillis()
                        .addToSchema(org.apache.avro.Schema.create(org.apache.avro.Schema.Type.INT));
            } else if (Timestamp.LOGICAL_NAME.equals(name)) {
                avro = LogicalTypes.timestampMillis()
                        .addToSchema(org.apache.avro.Schema.create(org.apache.avro.Schema.Type.LONG));
            } else {
                switch (schema.type()) {
                    case INT8:
                    case INT16:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.INT);
                        avro.addProp(CONNECT_TYPE, schema.type().getName());
                        break;
                    case INT32:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.INT);
                        break;
                    case INT64:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.LONG);
                        break;
                    case FLOAT32:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.FLOAT);
                        break;
                    case FLOAT64:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.DOUBLE);
                        break;
                    case BOOLEAN:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.BOOLEAN);
                        break;
                    case STRING:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.STRING);
                        break;
                    case BYTES:
                        avro = org.apache.avro.Schema.create(org.apache.avro.Schema.Type.BYTES);
                        break;
                    case ARRAY:
                        avro = org.apache.avro.Schema.createArray(member(schema.valueSchema(), path + "[]"));
                        break;
                    case MAP:
                        if (schema.keySchema().type() != Schema.Type.STRING) {
                            throw new DataException(path + ": a map with " + schema.keySchema().type()
                                    + " keys cannot be written as Avro (only STRING keys are supported)");
                        }
                        avro = org.apache.avro.Schema.createMap(member(schema.valueSchema(), path + "{}"));
                        break;
                    case STRUCT:
                        return record(schema, path);
                    default:
                        throw new DataException(path + ": Connect type " + schema.type() + " has no Avro mapping");
                }
                if (name != null) {
                    avro.addProp(CONNECT_NAME, name);
                }
                if (schema.doc() != null) {
                    avro.addProp(CONNECT_DOC, schema.doc());
                }
            }
            if (schema.version() != null) {
                avro.addProp(CONNECT_VERSION, schema.version());
            }
            if (schema.parameters() != null && !schema.parameters().isEmpty()) {
                avro.addProp(CONNECT_PARAMETERS, new LinkedHashMap<>(schema.parameters()));
            }
            return avro;
        }

        private org.apache.avro.Schema record(Schema schema, String path) {
            String connectName = schema.name();
            String fullName = connectName != null ? avroFullName(connectName) : DEFAULT_NAMESPACE + "." + DEFAULT_NAME + ++unnamed;
            org.apache.avro.Schema defined = avroByName.get(fullName);
            if (defined != null) {
                if (connectByName.get(fullName).equals(schema)) {
                    return defined;
                }
                throw new DataException(path + ": two different structs are named " + fullName
                        + " in one schema; Avro needs one definition per name");
            }
            List<org.apache.avro.Schema.Field> fields = new ArrayList<>();
            for (Field field : schema.fields()) {
                String fieldPath = path + "." + field.name();
                if (!AVRO_NAME.matcher(field.name()).matches()) {
                    throw new DataException(fieldPath + ": field name '" + field.name()
                            + "' is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)");
                }
                org.apache.avro.Schema fieldSchema = member(field.schema(), fieldPath);
                Object defaultValue = avroDefault(field.schema(), fieldPath);
                fields.add(defaultValue == null
                        ? new org.apache.avro.Schema.Field(field.name(), fieldSchema, field.schema().doc())
                        : new org.apache.avro.Schema.Field(field.name(), fieldSchema, field.schema().doc(), defaultValue));
            }
            int dot = fullName.lastIndexOf('.');
            org.apache.avro.Schema record = org.apache.avro.Schema.createRecord(
                    fullName.substring(dot + 1), schema.doc(), dot < 0 ? null : fullName.substring(0, dot), false, fields);
            if (connectName != null) {
                record.addProp(CONNECT_NAME, connectName);
            }
            if (schema.version() != null) {
                record.addProp(CONNECT_VERSION, schema.version());
            }
            if (schema.parameters() != null && !schema.parameters().isEmpty()) {
                record.addProp(CONNECT_PARAMETERS, new LinkedHashMap<>(schema.parameters()));
            }
            connectByName.put(fullName, schema);
            avroByName.put(fullName, record);
            return record;
        }
    }

    /** A field's default as Avro's Field constructor takes it; null when it has none (or it cannot be said). */
    private static Object avroDefault(Schema schema, String path) {
        Object value = schema.defaultValue();
        if (value == null) {
            return schema.isOptional() ? JsonProperties.NULL_VALUE : null;
        }
        switch (schema.type()) {
            case STRUCT:
            case ARRAY:
            case MAP:
                // Defaults of containers are left out of the Avro schema: the values are written all the same;
                // only a reader that lacks the field would miss the default.
                return schema.isOptional() ? JsonProperties.NULL_VALUE : null;
            default:
                Object avro = toAvroValue(schema, value, path + " (default)");
                return avro instanceof ByteBuffer buffer ? bytesOf(buffer) : avro;
        }
    }

    static String avroFullName(String connectName) {
        StringBuilder name = new StringBuilder();
        for (String part : connectName.split("\\.", -1)) {
            String clean = NOT_NAME_CHARACTER.matcher(part).replaceAll("_");
            if (clean.isEmpty() || Character.isDigit(clean.charAt(0))) {
                clean = "_" + clean;
            }
            name.append(name.length() == 0 ? "" : ".").append(clean);
        }
        return name.toString();
    }

    private static int decimalScale(Schema schema, String path) {
        String scale = schema.parameters() == null ? null : schema.parameters().get(Decimal.SCALE_FIELD);
        if (scale == null) {
            throw new DataException(path + ": a Decimal without its scale parameter");
        }
        return Integer.parseInt(scale);
    }

    private static int decimalPrecision(Schema schema, String path) {
        String precision = schema.parameters() == null ? null : schema.parameters().get(DECIMAL_PRECISION);
        int value = precision == null ? DEFAULT_DECIMAL_PRECISION : Integer.parseInt(precision);
        if (value < decimalScale(schema, path)) {
            throw new DataException(path + ": decimal precision " + value + " is below its scale");
        }
        return value;
    }

    /** {@code value} of Connect schema {@code schema} as an Avro datum of {@link #toAvroSchema}'s schema. */
    static Object toAvroValue(Schema schema, Object value, String path) {
        return toAvroValue(schema, null, value, path);
    }

    static Object toAvroValue(Schema schema, org.apache.avro.Schema avro, Object value, String path) {
        if (value == null) {
            if (schema.isOptional()) {
                return null;
            }
            throw new DataException(path + " is null, but its schema is not optional");
        }
        try {
            String name = schema.name();
            if (Decimal.LOGICAL_NAME.equals(name)) {
                BigDecimal decimal = (BigDecimal) value;
                int scale = decimalScale(schema, path);
                if (decimal.scale() != scale) {
                    throw new DataException(path + ": decimal " + decimal + " has scale " + decimal.scale()
                            + ", its schema " + scale);
                }
                int precision = decimalPrecision(schema, path);
                if (decimal.precision() > precision) {
                    throw new DataException(path + ": decimal " + decimal + " has more than " + precision + " digits");
                }
                return ByteBuffer.wrap(decimal.unscaledValue().toByteArray());
            }
            if (Date.LOGICAL_NAME.equals(name)) {
                return Date.fromLogical(schema, (java.util.Date) value);
            }
            if (Time.LOGICAL_NAME.equals(name)) {
                return Time.fromLogical(schema, (java.util.Date) value);
            }
            if (Timestamp.LOGICAL_NAME.equals(name)) {
                return Timestamp.fromLogical(schema, (java.util.Date) value);
            }
            switch (schema.type()) {
                case INT8:
                    return ((Byte) value).intValue();
                case INT16:
                    return ((Short) value).intValue();
                case INT32:
                    return (Integer) value;
                case INT64:
                    return (Long) value;
                case FLOAT32:
                    return (Float) value;
                case FLOAT64:
                    return (Double) value;
                case BOOLEAN:
                    return (Boolean) value;
                case STRING:
                    return (String) value;
                case BYTES:
                    return value instanceof byte[] bytes ? ByteBuffer.wrap(bytes) : ((ByteBuffer) value).slice();
                case ARRAY: {
                    org.apache.avro.Schema elements = avro == null ? null : nonNull(avro).getElementType();
                    List<Object> list = new ArrayList<>();
                    int index = 0;
                    for (Object element : (Collection<?>) value) {
                        list.add(toAvroValue(schema.valueSchema(), elements, element, path + "[" + index++ + "]"));
                    }
                    return list;
                }
                case MAP: {
                    org.apache.avro.Schema values = avro == null ? null : nonNull(avro).getValueType();
                    Map<String, Object> map = new LinkedHashMap<>();
                    for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                        if (entry.getKey() == null) {
                            throw new DataException(path + ": a map key is null");
                        }
                        String key = (String) entry.getKey();
                        map.put(key, toAvroValue(schema.valueSchema(), values, entry.getValue(), path + "{" + key + "}"));
                    }
                    return map;
                }
                case STRUCT: {
                    if (avro == null) {
                        throw new DataException(path + ": a struct value needs its Avro schema");
                    }
                    Struct struct = (Struct) value;
                    org.apache.avro.Schema recordSchema = nonNull(avro);
                    GenericData.Record record = new GenericData.Record(recordSchema);
                    for (Field field : schema.fields()) {
                        org.apache.avro.Schema.Field avroField = recordSchema.getField(field.name());
                        Object fieldValue = struct.get(field.name());
                        record.put(avroField.pos(), toAvroValue(
                                field.schema(), avroField.schema(), fieldValue, path + "." + field.name()));
                    }
                    return record;
                }
                default:
                    throw new DataException(path + ": Connect type " + schema.type() + " has no Avro mapping");
            }
        } catch (ClassCastException e) {
            throw new DataException(path + ": a " + value.getClass().getSimpleName() + " is not a value of Connect type "
                    + schema.type() + (schema.name() == null ? "" : " (" + schema.name() + ")"), e);
        }
    }

    private static org.apache.avro.Schema nonNull(org.apache.avro.Schema schema) {
        if (schema.getType() != org.apache.avro.Schema.Type.UNION) {
            return schema;
        }
        for (org.apache.avro.Schema branch : schema.getTypes()) {
            if (branch.getType() != org.apache.avro.Schema.Type.NULL) {
                return branch;
            }
        }
        throw new DataException("a union of null only");
    }

    private static byte[] bytesOf(ByteBuffer buffer) {
        ByteBuffer copy = buffer.duplicate();
        byte[] bytes = new byte[copy.remaining()];
        copy.get(bytes);
        return bytes;
    }

    // ---- Avro to Connect -----------------------------------------------------------------------------

    /** The Connect schema of records written with Avro schema {@code schema}. */
    static Schema toConnectSchema(org.apache.avro.Schema schema) {
        return toConnect(schema, false, "value").build();
    }

    private static SchemaBuilder toConnect(org.apache.avro.Schema schema, boolean optional, String path) {
        if (schema.getType() == org.apache.avro.Schema.Type.UNION) {
            List<org.apache.avro.Schema> types = schema.getTypes();
            List<org.apache.avro.Schema> values = new ArrayList<>();
            for (org.apache.avro.Schema type : types) {
                if (type.getType() != org.apache.avro.Schema.Type.NULL) {
                    values.add(type);
                }
            }
            if (values.size() != 1) {
                throw new DataException(path + ": Avro union " + schema + " has no Connect mapping (only a union"
                        + " of null and one type, an optional value, is supported)");
            }
            return toConnect(values.get(0), values.size() < types.size(), path);
        }
        SchemaBuilder builder = connectType(schema, path);
        if (optional) {
            builder.optional();
        }
        Object version = schema.getObjectProp(CONNECT_VERSION);
        if (version instanceof Number number && builder.version() == null) {
            builder.version(number.intValue());
        }
        Object parameters = schema.getObjectProp(CONNECT_PARAMETERS);
        if (parameters instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                builder.parameter(String.valueOf(entry.getKey()), String.valueOf(entry.getValue()));
            }
        }
        return builder;
    }

    private static SchemaBuilder connectType(org.apache.avro.Schema schema, String path) {
        LogicalType logical = schema.getLogicalType();
        if (logical instanceof LogicalTypes.Decimal decimal) {
            return Decimal.builder(decimal.getScale())
                    .parameter(DECIMAL_PRECISION, Integer.toString(decimal.getPrecision()));
        }
        if (logical != null && schema.getType() == org.apache.avro.Schema.Type.INT) {
            if ("date".equals(logical.getName())) {
                return Date.builder();
            }
            if ("time-millis".equals(logical.getName())) {
                return Time.builder();
            }
        }
        if (logical != null && "timestamp-millis".equals(logical.getName())
                && schema.getType() == org.apache.avro.Schema.Type.LONG) {
            return Timestamp.builder();
        }
        SchemaBuilder builder;
        switch (schema.getType()) {
            case RECORD: {
                builder = SchemaBuilder.struct();
                String connectName = schema.getProp(CONNECT_NAME);
                if (connectName != null) {
                    builder.name(connectName);
                } else if (!DEFAULT_NAMESPACE.equals(schema.getNamespace())) {
                    builder.name(schema.getFullName());
                }
                if (schema.getDoc() != null) {
                    builder.doc(schema.getDoc());
                }
                for (org.apache.avro.Schema.Field field : schema.getFields()) {
                    String fieldPath = path + "." + field.name();
                    SchemaBuilder fieldSchema = toConnect(field.schema(), false, fieldPath);
                    if (field.doc() != null) {
                        fieldSchema.doc(field.doc());
                    }
                    Object defaultValue = field.hasDefaultValue() ? field.defaultVal() : null;
                    if (defaultValue != null && defaultValue != JsonProperties.NULL_VALUE) {
                        Object connectDefault = connectDefault(fieldSchema, nonNull(field.schema()), defaultValue);
                        if (connectDefault != null) {
                            fieldSchema.defaultValue(connectDefault);
                        }
                    }
                    builder.field(field.name(), fieldSchema.build());
                }
                return builder;
            }
            case INT: {
                String type = schema.getProp(CONNECT_TYPE);
                builder = "int8".equals(type) ? SchemaBuilder.int8()
                        : "int16".equals(type) ? SchemaBuilder.int16() : SchemaBuilder.int32();
                break;
            }
            case LONG:
                builder = SchemaBuilder.int64();
                break;
            case FLOAT:
                builder = SchemaBuilder.float32();
                break;
            case DOUBLE:
                builder = SchemaBuilder.float64();
                break;
            case BOOLEAN:
                builder = SchemaBuilder.bool();
                break;
            case STRING:
            case ENUM:
                builder = SchemaBuilder.string();
                break;
            case BYTES:
            case FIXED:
                builder = SchemaBuilder.bytes();
                break;
            case ARRAY:
                builder = SchemaBuilder.array(toConnect(schema.getElementType(), false, path + "[]").build());
                break;
            case MAP:
                builder = SchemaBuilder.map(Schema.STRING_SCHEMA, toConnect(schema.getValueType(), false, path + "{}").build());
                break;
            default:
                throw new DataException(path + ": Avro type " + schema.getType() + " has no Connect mapping");
        }
        String connectName = schema.getProp(CONNECT_NAME);
        if (connectName != null) {
            builder.name(connectName);
        } else if (schema.getType() == org.apache.avro.Schema.Type.ENUM || schema.getType() == org.apache.avro.Schema.Type.FIXED) {
            builder.name(schema.getFullName());
        }
        String doc = schema.getProp(CONNECT_DOC);
        if (doc != null) {
            builder.doc(doc);
        }
        return builder;
    }

    /** An Avro field default as a Connect default; null (none) for containers, whose defaults are not kept. */
    private static Object connectDefault(Schema connect, org.apache.avro.Schema avro, Object avroDefault) {
        switch (connect.type()) {
            case STRUCT:
            case ARRAY:
            case MAP:
                return null;
            default:
                Object datum = avroDefault instanceof byte[] bytes ? ByteBuffer.wrap(bytes) : avroDefault;
                if (avro.getType() == org.apache.avro.Schema.Type.LONG && datum instanceof Integer number) {
                    datum = number.longValue();
                }
                if (avro.getType() == org.apache.avro.Schema.Type.DOUBLE && datum instanceof Number number) {
                    datum = number.doubleValue();
                }
                if (avro.getType() == org.apache.avro.Schema.Type.FLOAT && datum instanceof Number number) {
                    datum = number.floatValue();
                }
                return toConnectValue(connect, datum, "default");
        }
    }

    /** An Avro datum (as Avro's generic reader returns it) as a value of Connect schema {@code schema}. */
    static Object toConnectValue(Schema schema, Object datum, String path) {
        if (datum == null) {
            if (schema.isOptional()) {
                return null;
            }
            throw new DataException(path + " is null, but its schema is not optional");
        }
        try {
            String name = schema.name();
            if (Decimal.LOGICAL_NAME.equals(name)) {
                byte[] bytes = datum instanceof GenericFixed fixed ? fixed.bytes() : bytesOf((ByteBuffer) datum);
                return new BigDecimal(new BigInteger(bytes), decimalScale(schema, path));
            }
            if (Date.LOGICAL_NAME.equals(name)) {
                return Date.toLogical(schema, (Integer) datum);
            }
            if (Time.LOGICAL_NAME.equals(name)) {
                return Time.toLogical(schema, (Integer) datum);
            }
            if (Timestamp.LOGICAL_NAME.equals(name)) {
                return Timestamp.toLogical(schema, (Long) datum);
            }
            switch (schema.type()) {
                case INT8:
                    return ((Integer) datum).byteValue();
                case INT16:
                    return ((Integer) datum).shortValue();
                case INT32:
                    return (Integer) datum;
                case INT64:
                    return (Long) datum;
                case FLOAT32:
                    return (Float) datum;
                case FLOAT64:
                    return (Double) datum;
                case BOOLEAN:
                    return (Boolean) datum;
                case STRING:
                    return datum.toString();  // Utf8, String or an enum symbol
                case BYTES:
                    return datum instanceof GenericFixed fixed ? fixed.bytes().clone() : bytesOf((ByteBuffer) datum);
                case ARRAY: {
                    List<Object> list = new ArrayList<>();
                    int index = 0;
                    for (Object element : (Collection<?>) datum) {
                        list.add(toConnectValue(schema.valueSchema(), element, path + "[" + index++ + "]"));
                    }
                    return list;
                }
                case MAP: {
                    Map<String, Object> map = new LinkedHashMap<>();
                    for (Map.Entry<?, ?> entry : ((Map<?, ?>) datum).entrySet()) {
                        String key = entry.getKey().toString();
                        map.put(key, toConnectValue(schema.valueSchema(), entry.getValue(), path + "{" + key + "}"));
                    }
                    return map;
                }
                case STRUCT: {
                    GenericRecord record = (GenericRecord) datum;
                    Struct struct = new Struct(schema);
                    for (Field field : schema.fields()) {
                        struct.put(field, toConnectValue(field.schema(), record.get(field.name()), path + "." + field.name()));
                    }
                    return struct;
                }
                default:
                    throw new DataException(path + ": Connect type " + schema.type() + " has no Avro mapping");
            }
        } catch (ClassCastException e) {
            throw new DataException(path + ": Avro value " + datum.getClass().getSimpleName()
                    + " does not fit Connect type " + schema.type(), e);
        }
    }
}

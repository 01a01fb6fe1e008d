/* Parses Avro schema documents (JSON) into okno's node model, resolving names and namespaces. */
#include "schema_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"

/* Fixed types are fingerprints, ids and hashes; anything larger is a mistake in a schema. */
#define OKNO_AVRO_FIXED_BYTES_MAX 4096

struct parse {
    struct okno_avro_schema *schema;
    okno_avro_error *err;
    struct okno_avro_node *names[OKNO_AVRO_SCHEMA_NAMES_MAX]; /* named types defined so far */
    size_t name_count;
};

static const struct {
    const char *name;
    enum okno_avro_kind kind;
    size_t min_bytes;
} primitives[] = {
    {"null", OKNO_AVRO_NULL, 0},   {"boolean", OKNO_AVRO_BOOLEAN, 1},
    {"int", OKNO_AVRO_INT, 1},     {"long", OKNO_AVRO_LONG, 1},
    {"float", OKNO_AVRO_FLOAT, 4}, {"double", OKNO_AVRO_DOUBLE, 8},
    {"bytes", OKNO_AVRO_BYTES, 1}, {"string", OKNO_AVRO_STRING, 1},
};

static struct okno_avro_node *parse_node(struct parse *p, const json_t *j, const char *ns,
                                         int depth);

static void fail(struct parse *p, const char *fmt, ...)
{
    if (p->err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->reason, sizeof(p->err->reason), fmt, ap);
    va_end(ap);
    p->err->offset = 0;
}

static int primitive_index(const char *name)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++) {
        if (strcmp(primitives[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Avro names: [A-Za-z_][A-Za-z0-9_]*. Checking them here lets canonical form skip escaping. */
static int simple_name_ok(const char *s, size_t len)
{
    if (len == 0 ||
        !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* A dotted name: simple names joined by dots; the empty string is the null namespace. */
static int dotted_name_ok(const char *s, int allow_empty)
{
    if (*s == '\0') {
        return allow_empty;
    }
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (!simple_name_ok(s, len)) {
            return 0;
        }
        if (dot == NULL) {
            return 1;
        }
        s = dot + 1;
    }
}

static struct okno_avro_node *new_node(struct parse *p, enum okno_avro_kind kind)
{
    struct okno_avro_node *n = okno__avro_arena_alloc(&p->schema->arena, sizeof(*n));
    if (n == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->enum_default = -1;
    return n;
}

static struct okno_avro_node *lookup(struct parse *p, const char *fullname)
{
    for (size_t i = 0; i < p->name_count; i++) {
        if (strcmp(p->names[i]->fullname, fullname) == 0) {
            return p->names[i];
        }
    }
    return NULL;
}

static char *join_name(struct parse *p, const char *ns, const char *name)
{
    size_t ns_len = ns ? strlen(ns) : 0;
    size_t len = ns_len + 1 + strlen(name) + 1;
    char *s = okno__avro_arena_alloc(&p->schema->arena, len);
    if (s == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    if (ns_len > 0) {
        snprintf(s, len, "%s.%s", ns, name);
    } else {
        snprintf(s, len, "%s", name);
    }
    return s;
}

/* A reference by name: a dotted name is full; otherwise the enclosing namespace applies first. */
static struct okno_avro_node *resolve_reference(struct parse *p, const char *name, const char *ns)
{
    struct okno_avro_node *n = NULL;
    if (strchr(name, '.') == NULL && ns != NULL && *ns != '\0') {
        char *full = join_name(p, ns, name);
        if (full == NULL) {
            return NULL;
        }
        n = lookup(p, full);
    }
    if (n == NULL) {
        n = lookup(p, name);
    }
    if (n == NULL) {
        fail(p, "unknown type name '%s'", name);
    }
    return n;
}

static struct okno_avro_node *parse_primitive_name(struct parse *p, const char *name,
                                                   const char *ns)
{
    int i = primitive_index(name);
    if (i < 0) {
        return resolve_reference(p, name, ns);
    }
    struct okno_avro_node *n = new_node(p, primitives[i].kind);
    if (n != NULL) {
        n->min_bytes = primitives[i].min_bytes;
    }
    return n;
}

/* Gives a named type its full name and namespace, and registers it (before its body is parsed,
 * so a record may refer to itself). *ns_out is the namespace its nested definitions inherit. */
static int define_name(struct parse *p, struct okno_avro_node *n, const json_t *obj, const char *ns,
                       const char **ns_out)
{
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (name == NULL || !dotted_name_ok(name, 0)) {
        fail(p, "named type without a valid 'name'");
        return OKNO_EINVAL;
    }
    const json_t *ns_json = json_object_get(obj, "namespace");
    if (ns_json != NULL) {
        ns = json_string_value(ns_json);
        if (ns == NULL || !dotted_name_ok(ns, 1)) {
            fail(p, "type '%s' has an invalid 'namespace'", name);
            return OKNO_EINVAL;
        }
    }
    const char *dot = strrchr(name, '.');
    n->fullname = dot ? join_name(p, NULL, name) : join_name(p, ns, name);
    if (n->fullname == NULL) {
        return OKNO_ENOMEM;
    }
    dot = strrchr(n->fullname, '.');
    n->name = dot ? dot + 1 : n->fullname;
    if (primitive_index(n->name) >= 0 || lookup(p, n->fullname) != NULL) {
        fail(p, "type name '%s' is a primitive or defined twice", n->fullname);
        return OKNO_EINVAL;
    }
    if (p->name_count == OKNO_AVRO_SCHEMA_NAMES_MAX) {
        fail(p, "more than %d named types", OKNO_AVRO_SCHEMA_NAMES_MAX);
        return OKNO_EINVAL;
    }
    p->names[p->name_count++] = n;
    /* The namespace of nested definitions is the prefix of the full name. */
    char *nested = join_name(p, NULL, n->fullname);
    if (nested == NULL) {
        return OKNO_ENOMEM;
    }
    char *last = strrchr(nested, '.');
    *ns_out = last ? (*last = '\0', nested) : "";
    return 0;
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static int default_ok(const struct okno_avro_node *n, const json_t *v, int depth);

static int default_record_ok(const struct okno_avro_node *n, const json_t *v, int depth)
{
    if (!json_is_object(v)) {
        return 0;
    }
    for (size_t i = 0; i < n->count; i++) {
        const json_t *fv = json_object_get(v, n->fields[i].name);
        if (fv == NULL ? n->fields[i].default_value == NULL
                       : !default_ok(n->fields[i].type, fv, depth + 1)) {
            return 0;
        }
    }
    return 1;
}

static int default_list_ok(const struct okno_avro_node *n, const json_t *v, int depth)
{
    if (n->kind == OKNO_AVRO_ARRAY) {
        size_t i;
        const json_t *item;
        if (!json_is_array(v)) {
            return 0;
        }
        json_array_foreach(v, i, item)
        {
            if (!default_ok(n->items, item, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    const char *key;
    const json_t *value;
    if (!json_is_object(v)) {
        return 0;
    }
    json_object_foreach((json_t *)v, key, value)
    {
        if (!default_ok(n->items, value, depth + 1)) {
            return 0;
        }
    }
    return 1;
}

/* A field default must be a JSON value of the field's type (for a union: of its first branch). */
static int default_ok(const struct okno_avro_node *n, const json_t *v, int depth)
{
    if (depth > OKNO_AVRO_SCHEMA_DEPTH_MAX) {
        return 0;
    }
    switch (n->kind) {
    case OKNO_AVRO_NULL:
        return json_is_null(v);
    case OKNO_AVRO_BOOLEAN:
        return json_is_boolean(v);
    case OKNO_AVRO_INT:
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
               json_integer_value(v) <= INT32_MAX;
    case OKNO_AVRO_LONG:
        return json_is_integer(v);
    case OKNO_AVRO_FLOAT:
    case OKNO_AVRO_DOUBLE:
        return json_is_number(v);
    case OKNO_AVRO_BYTES:
    case OKNO_AVRO_STRING:
        return json_is_string(v);
    case OKNO_AVRO_FIXED:
        return json_is_string(v) && json_string_length(v) == n->fixed_bytes;
    case OKNO_AVRO_ENUM:
        for (size_t i = 0; json_is_string(v) && i < n->count; i++) {
            if (strcmp(n->symbols[i], json_string_value(v)) == 0) {
                return 1;
            }
        }
        return 0;
    case OKNO_AVRO_UNION:
        return n->count > 0 && default_ok(n->branches[0], v, depth + 1);
    case OKNO_AVRO_RECORD:
        return default_record_ok(n, v, depth);
    case OKNO_AVRO_ARRAY:
    case OKNO_AVRO_MAP:
        return default_list_ok(n, v, depth);
    }
    return 0;
}

static int parse_field(struct parse *p, struct okno_avro_node *rec, size_t i, const json_t *f,
                       const char *ns, int depth)
{
    struct okno_avro_field *field = &rec->fields[i];
    field->name = json_string_value(json_object_get(f, "name"));
    if (field->name == NULL || !simple_name_ok(field->name, strlen(field->name))) {
        fail(p, "record '%s' field %zu has no valid 'name'", rec->fullname, i);
        return OKNO_EINVAL;
    }
    for (size_t k = 0; k < i; k++) {
        if (strcmp(rec->fields[k].name, field->name) == 0) {
            fail(p, "record '%s' has field '%s' twice", rec->fullname, field->name);
            return OKNO_EINVAL;
        }
    }
    const json_t *type = json_object_get(f, "type");
    field->type = type ? parse_node(p, type, ns, depth + 1) : NULL;
    if (field->type == NULL) {
        if (type == NULL) {
            fail(p, "field '%s.%s' has no 'type'", rec->fullname, field->name);
        }
        return OKNO_EINVAL;
    }
    field->default_value = json_object_get(f, "default");
    if (field->default_value != NULL && !default_ok(field->type, field->default_value, 0)) {
        fail(p, "field '%s.%s' has a default that does not match its type", rec->fullname,
             field->name);
        return OKNO_EINVAL;
    }
    rec->min_bytes = add_sat(rec->min_bytes, field->type->min_bytes);
    return 0;
}

static struct okno_avro_node *parse_record(struct parse *p, const json_t *obj, const char *ns,
                                           int depth)
{
    struct okno_avro_node *n = new_node(p, OKNO_AVRO_RECORD);
    if (n == NULL || define_name(p, n, obj, ns, &ns) != 0) {
        return NULL;
    }
    const json_t *fields = json_object_get(obj, "fields");
    if (!json_is_array(fields)) {
        fail(p, "record '%s' has no 'fields' array", n->fullname);
        return NULL;
    }
    n->count = json_array_size(fields);
    n->fields = okno__avro_arena_alloc(&p->schema->arena, n->count * sizeof(*n->fields));
    if (n->fields == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n->count; i++) {
        if (parse_field(p, n, i, json_array_get(fields, i), ns, depth) != 0) {
            return NULL;
        }
    }
    return n;
}

static int parse_symbols(struct parse *p, struct okno_avro_node *n, const json_t *symbols)
{
    n->count = json_array_size(symbols);
    n->symbols = okno__avro_arena_alloc(&p->schema->arena, n->count * sizeof(*n->symbols));
    if (n->symbols == NULL) {
        fail(p, "out of memory");
        return OKNO_ENOMEM;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s = json_string_value(json_array_get(symbols, i));
        if (s == NULL || !simple_name_ok(s, strlen(s))) {
            fail(p, "enum '%s' symbol %zu is not a valid name", n->fullname, i);
            return OKNO_EINVAL;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(n->symbols[k], s) == 0) {
                fail(p, "enum '%s' has symbol '%s' twice", n->fullname, s);
                return OKNO_EINVAL;
            }
        }
        n->symbols[i] = s;
    }
    return 0;
}

static struct okno_avro_node *parse_enum(struct parse *p, const json_t *obj, const char *ns)
{
    struct okno_avro_node *n = new_node(p, OKNO_AVRO_ENUM);
    if (n == NULL || define_name(p, n, obj, ns, &ns) != 0) {
        return NULL;
    }
    const json_t *symbols = json_object_get(obj, "symbols");
    if (!json_is_array(symbols) || json_array_size(symbols) == 0) {
        fail(p, "enum '%s' has no 'symbols'", n->fullname);
        return NULL;
    }
    if (parse_symbols(p, n, symbols) != 0) {
        return NULL;
    }
    const json_t *def = json_object_get(obj, "default");
    if (def != NULL) {
        for (size_t i = 0; json_is_string(def) && i < n->count; i++) {
            if (strcmp(n->symbols[i], json_string_value(def)) == 0) {
                n->enum_default = (int)i;
            }
        }
        if (n->enum_default < 0) {
            fail(p, "enum '%s' default is not one of its symbols", n->fullname);
            return NULL;
        }
    }
    n->min_bytes = 1;
    return n;
}

static struct okno_avro_node *parse_fixed(struct parse *p, const json_t *obj, const char *ns)
{
    struct okno_avro_node *n = new_node(p, OKNO_AVRO_FIXED);
    if (n == NULL || define_name(p, n, obj, ns, &ns) != 0) {
        return NULL;
    }
    const json_t *size = json_object_get(obj, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > OKNO_AVRO_FIXED_BYTES_MAX) {
        fail(p, "fixed '%s' needs a 'size' from 0 to %d", n->fullname, OKNO_AVRO_FIXED_BYTES_MAX);
        return NULL;
    }
    n->fixed_bytes = (size_t)json_integer_value(size);
    n->min_bytes = n->fixed_bytes;
    return n;
}

static struct okno_avro_node *parse_container(struct parse *p, const json_t *obj,
                                              enum okno_avro_kind kind, const char *ns, int depth)
{
    const char *key = kind == OKNO_AVRO_ARRAY ? "items" : "values";
    const json_t *inner = json_object_get(obj, key);
    if (inner == NULL) {
        fail(p, "%s without '%s'", kind == OKNO_AVRO_ARRAY ? "array" : "map", key);
        return NULL;
    }
    struct okno_avro_node *n = new_node(p, kind);
    if (n == NULL || (n->items = parse_node(p, inner, ns, depth + 1)) == NULL) {
        return NULL;
    }
    n->min_bytes = 1; /* the terminating zero block count */
    return n;
}

/* Two union branches clash when a reader could not tell which one the writer meant. */
static int branches_clash(const struct okno_avro_node *a, const struct okno_avro_node *b)
{
    if (a->kind != b->kind) {
        return 0;
    }
    if (a->fullname != NULL && b->fullname != NULL) {
        return strcmp(a->fullname, b->fullname) == 0;
    }
    return 1;
}

static struct okno_avro_node *parse_union(struct parse *p, const json_t *arr, const char *ns,
                                          int depth)
{
    struct okno_avro_node *n = new_node(p, OKNO_AVRO_UNION);
    if (n == NULL) {
        return NULL;
    }
    n->count = json_array_size(arr);
    n->branches = okno__avro_arena_alloc(&p->schema->arena, n->count * sizeof(*n->branches));
    if (n->branches == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    size_t min = SIZE_MAX;
    for (size_t i = 0; i < n->count; i++) {
        struct okno_avro_node *b = parse_node(p, json_array_get(arr, i), ns, depth + 1);
        if (b == NULL) {
            return NULL;
        }
        if (b->kind == OKNO_AVRO_UNION) {
            fail(p, "a union may not contain a union directly");
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            if (branches_clash(n->branches[k], b)) {
                fail(p, "union has two branches of the same type");
                return NULL;
            }
        }
        n->branches[i] = b;
        min = b->min_bytes < min ? b->min_bytes : min;
    }
    n->min_bytes = add_sat(1, n->count ? min : 0);
    return n;
}

static struct okno_avro_node *parse_object(struct parse *p, const json_t *obj, const char *ns,
                                           int depth)
{
    const json_t *type_json = json_object_get(obj, "type");
    if (type_json != NULL && !json_is_string(type_json)) {
        return parse_node(p, type_json, ns, depth + 1);
    }
    const char *type = json_string_value(type_json);
    if (type == NULL) {
        fail(p, "schema object without 'type'");
        return NULL;
    }
    struct okno_avro_node *n = NULL;
    if (strcmp(type, "record") == 0) {
        n = parse_record(p, obj, ns, depth);
    } else if (strcmp(type, "enum") == 0) {
        n = parse_enum(p, obj, ns);
    } else if (strcmp(type, "fixed") == 0) {
        n = parse_fixed(p, obj, ns);
    } else if (strcmp(type, "array") == 0) {
        n = parse_container(p, obj, OKNO_AVRO_ARRAY, ns, depth);
    } else if (strcmp(type, "map") == 0) {
        n = parse_container(p, obj, OKNO_AVRO_MAP, ns, depth);
    } else {
        n = parse_primitive_name(p, type, ns);
    }
    if (n != NULL) {
        n->logical_type = json_string_value(json_object_get(obj, "logicalType"));
    }
    return n;
}

static struct okno_avro_node *parse_node(struct parse *p, const json_t *j, const char *ns,
                                         int depth)
{
    if (depth > OKNO_AVRO_SCHEMA_DEPTH_MAX) {
        fail(p, "schema nests deeper than %d", OKNO_AVRO_SCHEMA_DEPTH_MAX);
        return NULL;
    }
    if (json_is_string(j)) {
        return parse_primitive_name(p, json_string_value(j), ns);
    }
    if (json_is_array(j)) {
        return parse_union(p, j, ns, depth);
    }
    if (json_is_object(j)) {
        return parse_object(p, j, ns, depth);
    }
    fail(p, "a schema must be a string, an array or an object");
    return NULL;
}

int okno_avro_schema_parse(const char *json, size_t json_bytes, okno_avro_schema **out,
                           okno_avro_error *err)
{
    *out = NULL;
    struct okno_avro_schema *s = calloc(1, sizeof(*s));
    struct parse *p = calloc(1, sizeof(*p));
    if (s == NULL || p == NULL) {
        free(s);
        free(p);
        return OKNO_ENOMEM;
    }
    p->schema = s;
    p->err = err;
    json_error_t jerr;
    s->doc = json_loadb(json, json_bytes, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int rc = OKNO_EINVAL;
    if (s->doc == NULL) {
        fail(p, "not JSON: %s (line %d)", jerr.text, jerr.line);
    } else if ((s->root = parse_node(p, s->doc, "", 0)) != NULL) {
        rc = okno__avro_canonical(s->root, &s->canonical, &s->canonical_bytes);
        if (rc == 0) {
            s->fingerprint = okno_avro_fingerprint64(s->canonical, s->canonical_bytes);
        }
    }
    free(p);
    if (rc != 0) {
        okno_avro_schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void okno_avro_schema_free(okno_avro_schema *schema)
{
    if (schema == NULL) {
        return;
    }
    json_decref(schema->doc);
    free(schema->canonical);
    okno__avro_arena_free(schema->arena);
    free(schema);
}

const char *okno_avro_schema_canonical(const okno_avro_schema *schema, size_t *bytes)
{
    if (bytes != NULL) {
        *bytes = schema->canonical_bytes;
    }
    return schema->canonical;
}

uint64_t okno_avro_schema_fingerprint(const okno_avro_schema *schema)
{
    return schema->fingerprint;
}

const char *okno_avro_schema_name(const okno_avro_schema *schema)
{
    const struct okno_avro_node *n = schema->root;
    if (n->fullname != NULL) {
        return n->fullname;
    }
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++) {
        if (primitives[i].kind == n->kind) {
            return primitives[i].name;
        }
    }
    return n->kind == OKNO_AVRO_UNION ? "union" : n->kind == OKNO_AVRO_ARRAY ? "array" : "map";
}

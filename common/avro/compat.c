/* Checks that a reader schema can read everything a writer schema wrote (Avro schema resolution).
 *
 * avro-c 1.11.1's avro_schema_match() is not this check: it is too strict (its resolver knows no
 * field defaults, so a field added with a default is refused) and too lax (a union that lost a
 * branch, or an enum that lost a symbol with no default, still "matches"); test_avro_compat
 * pins both. This checker applies the specification's resolution rules to the whole tree,
 * every union branch included, and names the first incompatibility by its path. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "schema_model.h"

/* Path text in a refusal, e.g. "Event.payload[okno.v1.Submitted].text". */
#define OKNO_AVRO_PATH_BYTES 128

struct compat {
    okno_avro_error *err;
    char path[OKNO_AVRO_PATH_BYTES];
    size_t path_len;
    /* Record pairs already being checked: a recursive schema is compatible with itself unless
     * some other part says otherwise, so a pair seen again is assumed fine (coinduction). */
    const struct okno_avro_node *pairs[OKNO_AVRO_SCHEMA_NAMES_MAX][2];
    size_t pair_count;
};

static int compat_node(struct compat *c, const struct okno_avro_node *r,
                       const struct okno_avro_node *w, int depth);

static int incompatible(struct compat *c, const char *fmt, ...)
{
    if (c->err != NULL) {
        char what[OKNO_AVRO_REASON_BYTES];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(c->err->reason, sizeof(c->err->reason), "%.127s: %.120s",
                 c->path_len ? c->path : "<root>", what);
        c->err->offset = 0;
    }
    return OKNO_EINVAL;
}

static size_t path_push(struct compat *c, const char *fmt, const char *s)
{
    size_t old = c->path_len;
    int n = snprintf(c->path + old, sizeof(c->path) - old, fmt, s);
    if (n > 0) {
        c->path_len = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
    }
    return old;
}

static void path_pop(struct compat *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

static const char *type_name(const struct okno_avro_node *n)
{
    static const char *const names[] = {
        "null",   "boolean", "int",  "long",  "float", "double", "bytes",
        "string", "record",  "enum", "array", "map",   "union",  "fixed",
    };
    return n->fullname ? n->fullname : names[n->kind];
}

/* The writer's primitive can be promoted to the reader's (int to long, string to bytes, ...). */
static int promotable(enum okno_avro_kind r, enum okno_avro_kind w)
{
    switch (w) {
    case OKNO_AVRO_INT:
        return r == OKNO_AVRO_LONG || r == OKNO_AVRO_FLOAT || r == OKNO_AVRO_DOUBLE;
    case OKNO_AVRO_LONG:
        return r == OKNO_AVRO_FLOAT || r == OKNO_AVRO_DOUBLE;
    case OKNO_AVRO_FLOAT:
        return r == OKNO_AVRO_DOUBLE;
    case OKNO_AVRO_STRING:
        return r == OKNO_AVRO_BYTES;
    case OKNO_AVRO_BYTES:
        return r == OKNO_AVRO_STRING;
    default:
        return 0;
    }
}

/* Same kind, and for named types the same unqualified name, as the specification asks. */
static int same_type(const struct okno_avro_node *r, const struct okno_avro_node *w)
{
    if (r->kind != w->kind) {
        return 0;
    }
    return r->name == NULL || strcmp(r->name, w->name) == 0;
}

/* The reader branch a writer value resolves to: the first of the same type, else the first the
 * writer's type promotes to; NULL when none. */
static const struct okno_avro_node *pick_branch(const struct okno_avro_node *r_union,
                                                const struct okno_avro_node *w)
{
    for (size_t i = 0; i < r_union->count; i++) {
        if (same_type(r_union->branches[i], w)) {
            return r_union->branches[i];
        }
    }
    for (size_t i = 0; i < r_union->count; i++) {
        if (promotable(r_union->branches[i]->kind, w->kind)) {
            return r_union->branches[i];
        }
    }
    return NULL;
}

static const struct okno_avro_field *find_field(const struct okno_avro_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->count; i++) {
        if (strcmp(rec->fields[i].name, name) == 0) {
            return &rec->fields[i];
        }
    }
    return NULL;
}

static int pair_seen(struct compat *c, const struct okno_avro_node *r,
                     const struct okno_avro_node *w)
{
    for (size_t i = 0; i < c->pair_count; i++) {
        if (c->pairs[i][0] == r && c->pairs[i][1] == w) {
            return 1;
        }
    }
    if (c->pair_count < OKNO_AVRO_SCHEMA_NAMES_MAX) {
        c->pairs[c->pair_count][0] = r;
        c->pairs[c->pair_count][1] = w;
        c->pair_count++;
    }
    return 0;
}

/* Every reader field is either in the writer (and compatible) or has a default; writer fields
 * the reader lacks are skipped when reading, so they are always fine. */
static int compat_record(struct compat *c, const struct okno_avro_node *r,
                         const struct okno_avro_node *w, int depth)
{
    if (pair_seen(c, r, w)) {
        return 0;
    }
    for (size_t i = 0; i < r->count; i++) {
        const struct okno_avro_field *rf = &r->fields[i];
        const struct okno_avro_field *wf = find_field(w, rf->name);
        size_t old = path_push(c, ".%s", rf->name);
        int rc = 0;
        if (wf != NULL) {
            rc = compat_node(c, rf->type, wf->type, depth + 1);
        } else if (rf->default_value == NULL) {
            rc = incompatible(c, "field added without a default");
        }
        path_pop(c, old);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int compat_enum(struct compat *c, const struct okno_avro_node *r,
                       const struct okno_avro_node *w)
{
    if (r->enum_default >= 0) {
        return 0; /* unknown writer symbols read as the reader's default */
    }
    for (size_t i = 0; i < w->count; i++) {
        int found = 0;
        for (size_t k = 0; k < r->count && !found; k++) {
            found = strcmp(w->symbols[i], r->symbols[k]) == 0;
        }
        if (!found) {
            return incompatible(c, "enum symbol '%s' missing and the reader has no default",
                                w->symbols[i]);
        }
    }
    return 0;
}

/* Each writer branch must resolve, whether the reader is a union or not. */
static int compat_writer_union(struct compat *c, const struct okno_avro_node *r,
                               const struct okno_avro_node *w, int depth)
{
    for (size_t i = 0; i < w->count; i++) {
        size_t old = path_push(c, "[%s]", type_name(w->branches[i]));
        int rc = compat_node(c, r, w->branches[i], depth + 1);
        path_pop(c, old);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int compat_same_kind(struct compat *c, const struct okno_avro_node *r,
                            const struct okno_avro_node *w, int depth)
{
    switch (r->kind) {
    case OKNO_AVRO_RECORD:
        return compat_record(c, r, w, depth);
    case OKNO_AVRO_ENUM:
        return compat_enum(c, r, w);
    case OKNO_AVRO_ARRAY:
    case OKNO_AVRO_MAP:
        return compat_node(c, r->items, w->items, depth + 1);
    case OKNO_AVRO_FIXED:
        if (r->fixed_bytes != w->fixed_bytes) {
            return incompatible(c, "fixed size %zu cannot read size %zu", r->fixed_bytes,
                                w->fixed_bytes);
        }
        return 0;
    default:
        return 0;
    }
}

static int compat_node(struct compat *c, const struct okno_avro_node *r,
                       const struct okno_avro_node *w, int depth)
{
    if (depth > OKNO_AVRO_SCHEMA_DEPTH_MAX) {
        return incompatible(c, "schemas nest deeper than %d levels", OKNO_AVRO_SCHEMA_DEPTH_MAX);
    }
    if (w->kind == OKNO_AVRO_UNION) {
        return compat_writer_union(c, r, w, depth);
    }
    if (r->kind == OKNO_AVRO_UNION) {
        const struct okno_avro_node *branch = pick_branch(r, w);
        if (branch == NULL) {
            return incompatible(c, "reader union has no branch for written %s", type_name(w));
        }
        return compat_node(c, branch, w, depth + 1);
    }
    if (promotable(r->kind, w->kind)) {
        return 0;
    }
    if (!same_type(r, w)) {
        char wname[OKNO_AVRO_REASON_BYTES / 2];
        snprintf(wname, sizeof(wname), "%s", type_name(w));
        return incompatible(c, "%s cannot read written %s", type_name(r), wname);
    }
    return compat_same_kind(c, r, w, depth);
}

int okno_avro_schema_compatible(const okno_avro_schema *reader, const okno_avro_schema *writer,
                                okno_avro_error *err)
{
    struct compat *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return OKNO_ENOMEM;
    }
    c->err = err;
    path_push(c, "%s", type_name(reader->root));
    int rc = compat_node(c, reader->root, writer->root, 0);
    free(c);
    return rc;
}

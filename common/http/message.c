/* Building responses and reading requests: JSON through jansson, errors in one shape. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/http.h"

#define ERROR_TEXT_BYTES_MAX 512

static void set_body(struct okno_http_response *res, int status, const char *type, char *body,
                     size_t len)
{
    free(res->body);
    res->status = status;
    res->content_type = type;
    res->body = body;
    res->body_len = len;
}

void okno_http_respond_json(struct okno_http_response *res, int status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body != NULL && text == NULL) {
        set_body(res, 500, NULL, strdup("{\"error\":\"internal\"}"), 20);
        return;
    }
    set_body(res, status, NULL, text, text != NULL ? strlen(text) : 0);
}

void okno_http_respond_text(struct okno_http_response *res, int status, const char *content_type,
                            const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        set_body(res, 500, "text/plain", NULL, 0);
        return;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    set_body(res, status, content_type, copy, len);
}

void okno_http_respond_error(struct okno_http_response *res, int status, const char *code,
                             const char *field, const char *fmt, ...)
{
    char text[ERROR_TEXT_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *obj = json_pack("{s:s, s:s}", "error", code, "message", text);
    if (obj != NULL && field != NULL)
        json_object_set_new(obj, "field", json_string(field));
    okno_http_respond_json(res, status, obj);
}

int okno_http_add_header(struct okno_http_response *res, const char *name, const char *value)
{
    if (res->header_count >= OKNO_HTTP_RESPONSE_HEADERS_MAX)
        return OKNO_ELIMIT;
    res->headers[res->header_count].name = name;
    snprintf(res->headers[res->header_count].value, OKNO_HTTP_HEADER_VALUE_MAX, "%s", value);
    res->header_count++;
    return 0;
}

const char *okno_http_header(const struct okno_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++) {
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

int okno_http_query(const struct okno_http_request *req, const char *name, char *out,
                    size_t out_bytes)
{
    size_t name_len = strlen(name);
    for (const char *p = req->query; *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t value_len = len - name_len - 1;
            if (value_len >= out_bytes)
                return OKNO_ELIMIT;
            memcpy(out, p + name_len + 1, value_len);
            out[value_len] = '\0';
            return 0;
        }
        p += len + (end != NULL);
    }
    return OKNO_ENOTFOUND;
}

json_t *okno_http_json_body(const struct okno_http_request *req, struct okno_http_response *res)
{
    json_error_t err;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (body == NULL) {
        okno_http_respond_error(res, 400, "malformed_json", "body", "at byte %d: %s", err.position,
                                err.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        okno_http_respond_error(res, 400, "malformed_json", "body", "the body must be an object");
        return NULL;
    }
    return body;
}

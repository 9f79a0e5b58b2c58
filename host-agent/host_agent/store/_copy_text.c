/*
 * copy_text(kinds, id, revision, value, ...): an SQLite aggregate writing the rows it is given as
 * one block of PostgreSQL's text COPY format, ready to send (see host_agent/store/pg_values.py).
 *
 * `kinds` has one letter per value after id and revision: 't' text, 'i' integer, 'T' time (UTC
 * epoch seconds, integer or real, written as ISO text to the microsecond), 'f' flag (integer 0 or 1).
 * NULL is written as \N; text is escaped (backslash, tab, newline, carriage return).
 *
 * The result is NULL if any value cannot travel: a value of the wrong type for its kind, a time
 * outside years 1 to 9999, text that is not UTF-8 or that holds a NUL character. The caller then
 * reads those rows one by one to find which, and why.
 *
 * The Python module only registers the function for every SQLite connection opened after
 * enable() (sqlite3_auto_extension): it links the same libsqlite3 as Python's sqlite3 module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <string.h>

#define PG_EPOCH_OFFSET 946684800LL          /* Unix epoch to 2000-01-01 00:00:00 UTC */
#define MIN_TIME (-62135596800LL)            /* 0001-01-01 00:00:00 UTC */
#define MAX_TIME 253402300799LL              /* 9999-12-31 23:59:59 UTC */

typedef struct {
    unsigned char *p;
    sqlite3_uint64 n, cap;
    int bad, nomem;
} Lines;

static int reserve(Lines *b, sqlite3_uint64 extra) {
    if (b->n + extra <= b->cap) return 1;
    sqlite3_uint64 cap = b->cap ? b->cap * 2 : 65536;
    while (cap < b->n + extra) cap *= 2;
    unsigned char *p = sqlite3_realloc64(b->p, cap);
    if (!p) {
        b->nomem = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Writes v in decimal at o; returns the end. */
static unsigned char *put_int(unsigned char *o, sqlite3_int64 v) {
    char tmp[24];
    int i = 0;
    sqlite3_uint64 u = v < 0 ? (sqlite3_uint64)0 - (sqlite3_uint64)v : (sqlite3_uint64)v;
    do {
        tmp[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *o++ = '-';
    while (i) *o++ = (unsigned char)tmp[--i];
    return o;
}

static unsigned char *put_digits(unsigned char *o, long long v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        o[i] = (unsigned char)('0' + v % 10);
        v /= 10;
    }
    return o + width;
}

/* The length of the valid UTF-8 sequence starting at s (a byte >= 0x80), or 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are not UTF-8). */
static int utf8_sequence(const unsigned char *s, sqlite3_int64 left) {
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return left >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Text as COPY takes it; 0 if it holds a NUL character or bytes that are not UTF-8. */
static int put_text(Lines *b, const unsigned char *s, sqlite3_int64 n) {
    if (!reserve(b, 2 * (sqlite3_uint64)n)) return 0;
    unsigned char *o = b->p + b->n;
    sqlite3_int64 i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80) {
            if (c == '\\') *o++ = '\\';
            *o++ = c;
            i++;
        } else if (c < 0x20) {
            if (c == 0) return 0;
            if (c == '\t' || c == '\n' || c == '\r') {
                *o++ = '\\';
                *o++ = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
            } else {
                *o++ = c;
            }
            i++;
        } else {
            int len = utf8_sequence(s + i, n - i);
            if (!len) return 0;
            memcpy(o, s + i, (size_t)len);
            o += len;
            i += len;
        }
    }
    b->n = (sqlite3_uint64)(o - b->p);
    return 1;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). */
static void civil_from_days(long long z, long long *y, int *m, int *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* A time as ISO text in UTC ("2026-05-28 20:43:19.250000+00"); 0 if it cannot travel. */
static int put_time(Lines *b, sqlite3_value *v) {
    sqlite3_int64 seconds;
    long long fraction = -1;
    int type = sqlite3_value_type(v);
    if (type == SQLITE_INTEGER) {
        seconds = sqlite3_value_int64(v);
        if (seconds < MIN_TIME || seconds > MAX_TIME) return 0;
    } else if (type == SQLITE_FLOAT) {
        double x = sqlite3_value_double(v);
        if (!(x >= (double)MIN_TIME && x <= (double)MAX_TIME)) return 0;
        /* Microseconds since 2000 as PostgreSQL keeps them: the nearest, half away from zero. */
        double r = (x - (double)PG_EPOCH_OFFSET) * 1000000.0;
        if (r >= -4503599627370496.0 && r <= 4503599627370496.0) r = (double)(sqlite3_int64)(r + (r < 0 ? -0.5 : 0.5));
        sqlite3_int64 micros = (sqlite3_int64)r;
        fraction = ((micros % 1000000) + 1000000) % 1000000;
        seconds = (micros - fraction) / 1000000 + PG_EPOCH_OFFSET;
        if (seconds < MIN_TIME || seconds > MAX_TIME) return 0;
    } else {
        return 0;
    }
    if (!reserve(b, 40)) return 0;
    long long days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    long long rest = seconds - days * 86400;
    long long year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    unsigned char *o = b->p + b->n;
    o = put_digits(o, year, 4);
    *o++ = '-';
    o = put_digits(o, month, 2);
    *o++ = '-';
    o = put_digits(o, day, 2);
    *o++ = ' ';
    o = put_digits(o, rest / 3600, 2);
    *o++ = ':';
    o = put_digits(o, rest / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, rest % 60, 2);
    if (fraction >= 0) {
        *o++ = '.';
        o = put_digits(o, fraction, 6);
    }
    memcpy(o, "+00", 3);
    b->n = (sqlite3_uint64)(o + 3 - b->p);
    return 1;
}

/* One value of the given kind after its tab; 0 if it cannot travel. */
static int put_value(Lines *b, char kind, sqlite3_value *v) {
    int type = sqlite3_value_type(v);
    if (type == SQLITE_NULL) {
        if (!reserve(b, 2)) return 0;
        b->p[b->n++] = '\\';
        b->p[b->n++] = 'N';
        return 1;
    }
    switch (kind) {
    case 't': {
        const unsigned char *s = sqlite3_value_text(v);
        if (!s) {
            b->nomem = 1;
            return 0;
        }
        return put_text(b, s, sqlite3_value_bytes(v));
    }
    case 'i':
        if (type != SQLITE_INTEGER || !reserve(b, 24)) return 0;
        b->n = (sqlite3_uint64)(put_int(b->p + b->n, sqlite3_value_int64(v)) - b->p);
        return 1;
    case 'f': {
        sqlite3_int64 x = sqlite3_value_int64(v);
        if (type != SQLITE_INTEGER || (x != 0 && x != 1) || !reserve(b, 1)) return 0;
        b->p[b->n++] = (unsigned char)('0' + x);
        return 1;
    }
    case 'T':
        return put_time(b, v);
    }
    return 0;
}

static void copy_text_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    Lines *b = sqlite3_aggregate_context(ctx, sizeof(Lines));
    if (!b) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (b->bad || b->nomem) return;
    const char *kinds = (const char *)sqlite3_value_text(argv[0]);
    if (!kinds || (int)strlen(kinds) != argc - 3) {
        sqlite3_result_error(ctx, "copy_text(): one kind letter per value after id and revision", -1);
        return;
    }
    for (int i = 1; i <= 2; i++) {
        if (sqlite3_value_type(argv[i]) != SQLITE_INTEGER) {
            b->bad = 1;
            return;
        }
    }
    if (!reserve(b, 48)) return;
    unsigned char *o = put_int(b->p + b->n, sqlite3_value_int64(argv[1]));
    *o++ = '\t';
    o = put_int(o, sqlite3_value_int64(argv[2]));
    b->n = (sqlite3_uint64)(o - b->p);
    for (int i = 3; i < argc; i++) {
        if (!reserve(b, 1)) return;
        b->p[b->n++] = '\t';
        if (!put_value(b, kinds[i - 3], argv[i])) {
            b->bad = 1;
            return;
        }
    }
    if (!reserve(b, 1)) return;
    b->p[b->n++] = '\n';
}

static void copy_text_final(sqlite3_context *ctx) {
    Lines *b = sqlite3_aggregate_context(ctx, 0);
    if (!b) return; /* no rows: NULL */
    if (b->nomem) {
        sqlite3_free(b->p);
        sqlite3_result_error_nomem(ctx);
    } else if (b->bad || !b->p) {
        sqlite3_free(b->p);
    } else {
        sqlite3_result_blob64(ctx, b->p, b->n, sqlite3_free);
    }
}

static int register_copy_text(sqlite3 *db, const char **error, const void *api) {
    (void)error;
    (void)api;
    return sqlite3_create_function_v2(db, "copy_text", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
                                      copy_text_step, copy_text_final, NULL);
}

static PyObject *enable(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    int rc = sqlite3_auto_extension((void (*)(void))register_copy_text);
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_RuntimeError, "cannot register copy_text() with SQLite: %s", sqlite3_errstr(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"enable", enable, METH_NOARGS,
     "Make copy_text() available on every SQLite connection opened from now on (idempotent)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_copy_text",
    .m_doc = "The copy_text() SQLite aggregate: rows as COPY text.",
    .m_size = -1,
    .m_methods = methods,
};

/* The bounds the function applies, for the Python side to take rather than repeat. */
PyMODINIT_FUNC PyInit__copy_text(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    const struct { const char *name; long long value; } constants[] = {
        {"PG_EPOCH_OFFSET", PG_EPOCH_OFFSET}, {"MIN_TIME", MIN_TIME}, {"MAX_TIME", MAX_TIME},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddObject(m, constants[i].name, PyLong_FromLongLong(constants[i].value)) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}

/* mq/nats: the URL of a JetStream backend and the mapping of topic and group
 * names onto stream, subject and consumer names (nats_names.h). */
#include "mq/nats/nats_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_prefix[] = {"MQT_", "MQR_", "MQD_"};
static const char *const kind_subject[] = {"mq.t.", "mq.r.", "mq.d."};

int mq_nats_is_url(const char *url)
{
    return url != NULL && strncmp(url, "nats://", 7) == 0;
}

void mq_nats_servers_free(mq_nats_servers *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->urls[i]);
    free(s->urls);
    s->urls = NULL;
    s->n = 0;
}

rpc_status mq_nats_servers_parse(const char *url, mq_nats_servers *out, shop_error *err)
{
    *out = (mq_nats_servers){0};
    if (!mq_nats_is_url(url) || url[7] == '\0')
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "a JetStream URL is nats://host:port[,host:port...], not \"%s\"",
                              url ? url : "");
    const char *p = url + 7;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (strncmp(p, "nats://", 7) == 0) {
            p += 7;
            len -= 7;
        }
        char **n = realloc(out->urls, (size_t)(out->n + 1) * sizeof *n);
        if (n == NULL)
            goto oom;
        out->urls = n;
        if (len == 0 || memchr(p, ':', len) == NULL) {
            mq_nats_servers_free(out);
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s: every server is host:port", url);
        }
        if ((out->urls[out->n] = malloc(len + 8)) == NULL)
            goto oom;
        snprintf(out->urls[out->n++], len + 8, "nats://%.*s", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    return RPC_OK;
oom:
    mq_nats_servers_free(out);
    return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

int mq_nats_replicas(int nservers)
{
    const char *env = getenv("MQ_NATS_REPLICAS");
    int r = env != NULL ? atoi(env) : 0;
    if (r >= 1 && r <= 5)
        return r;
    return nservers >= 3 ? 3 : 1;
}

static int plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

rpc_status mq_nats_encode(const char *in, char *out, size_t outlen, shop_error *err)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (in == NULL || *in == '\0')
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "an empty name has no JetStream name");
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (o + 4 > outlen || o + 3 > MQ_NATS_NAME_MAX)
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "\"%.60s...\" is too long for a JetStream name (at most %d "
                                  "characters once encoded)",
                                  in, MQ_NATS_NAME_MAX);
        if (plain(*p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '_';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return RPC_OK;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

rpc_status mq_nats_decode(const char *in, char *out, size_t outlen, shop_error *err)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (o + 1 >= outlen)
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s: too long", in);
        if (*p != '_') {
            out[o++] = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (lo < 0)
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s: not an encoded name", in);
        out[o++] = (char)(hi << 4 | lo);
        p += 2;
    }
    out[o] = '\0';
    return RPC_OK;
}

rpc_status mq_nats_names_of(mq_nats_kind kind, const char *name, mq_nats_names *out,
                            shop_error *err)
{
    char enc[MQ_NATS_NAME_MAX + 1];
    rpc_status st = mq_nats_encode(name, enc, sizeof enc, err);
    if (st != RPC_OK)
        return st;
    snprintf(out->stream, sizeof out->stream, "%s%s", kind_prefix[kind], enc);
    snprintf(out->subject, sizeof out->subject, "%s%s", kind_subject[kind], enc);
    return RPC_OK;
}

rpc_status mq_nats_stream_kind(const char *stream, mq_nats_kind *kind, char *name, size_t namelen,
                               shop_error *err)
{
    for (int k = MQ_NATS_TOPIC; k <= MQ_NATS_DLQ; k++) {
        if (strncmp(stream, kind_prefix[k], 4) == 0) {
            *kind = (mq_nats_kind)k;
            return mq_nats_decode(stream + 4, name, namelen, err);
        }
    }
    return shop_error_set(err, RPC_INVALID_ARGUMENT, "stream %s is not shopflow's", stream);
}

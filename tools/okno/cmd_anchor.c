/* `okno anchor keygen`: the Ed25519 key pair that signs the checkpoints the relay publishes to
 * okno.checkpoints.v1. The private key is a deployment secret for the relay alone
 * (relay.anchor_key), never stored in PostgreSQL; auditors get the public key
 * (okno verify --anchors). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "okno/anchor.h"

#define PATH_BYTES 4096

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: okno anchor keygen --dir DIR\n"
                 "  writes DIR/checkpoint_signing.pem (private, mode 0600; the relay's\n"
                 "  relay.anchor_key) and DIR/checkpoint_public.pem (for okno verify --anchors);\n"
                 "  refuses to overwrite either\n");
    return rc;
}

int okno_cli_anchor(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "keygen") != 0)
        return usage(stderr,
                     argc >= 2 && strcmp(argv[1], "--help") == 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE);
    const char *dir = NULL;
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    argc--, argv++;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'd')
            dir = optarg;
        else
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE);
    }
    if (dir == NULL)
        return usage(stderr, OKNO_EXIT_USAGE);
    char priv[PATH_BYTES], pub[PATH_BYTES], err[512];
    snprintf(priv, sizeof priv, "%s/checkpoint_signing.pem", dir);
    snprintf(pub, sizeof pub, "%s/checkpoint_public.pem", dir);
    if (okno_anchor_key_generate(priv, pub, err, sizeof err) != 0) {
        fprintf(stderr, "okno anchor: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    printf("okno anchor: wrote %s and %s\n", priv, pub);
    return OKNO_EXIT_OK;
}

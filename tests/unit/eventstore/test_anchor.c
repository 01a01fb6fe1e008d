/* The signed checkpoint record of okno.checkpoints.v1 (okno/anchor.h): it round-trips, its
 * signed bytes are canonical, and any changed byte, another key or a short record is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "okno/anchor.h"
#include "okno/error.h"

typedef struct keys {
    char dir[64];
    char priv[96], pub[96], priv2[96], pub2[96];
} keys;

static int setup(void **state)
{
    keys *k = calloc(1, sizeof *k);
    snprintf(k->dir, sizeof k->dir, "/tmp/okno-test-anchor-XXXXXX");
    assert_non_null(mkdtemp(k->dir));
    snprintf(k->priv, sizeof k->priv, "%s/a.key", k->dir);
    snprintf(k->pub, sizeof k->pub, "%s/a.pub", k->dir);
    snprintf(k->priv2, sizeof k->priv2, "%s/b.key", k->dir);
    snprintf(k->pub2, sizeof k->pub2, "%s/b.pub", k->dir);
    char err[256];
    assert_int_equal(okno_anchor_key_generate(k->priv, k->pub, err, sizeof err), 0);
    assert_int_equal(okno_anchor_key_generate(k->priv2, k->pub2, err, sizeof err), 0);
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    keys *k = *state;
    unlink(k->priv);
    unlink(k->pub);
    unlink(k->priv2);
    unlink(k->pub2);
    rmdir(k->dir);
    free(k);
    return 0;
}

static okno_anchor sample(void)
{
    okno_anchor a = {.checkpoint_no = 7,
                     .through_tx = 123456789012ULL,
                     .through_position = 70000,
                     .events = 10000,
                     .total_events = 70000};
    for (int i = 0; i < OKNO_EVENTLOG_HASH_BYTES; i++)
        a.digest[i] = (uint8_t)(i * 7 + 1);
    return a;
}

static void load(okno_anchor_key *k, const char *path, bool want_private)
{
    char err[256];
    assert_int_equal(okno_anchor_key_load(k, path, want_private, err, sizeof err), 0);
}

static void signed_checkpoint_round_trips_and_verifies_with_the_public_key(void **state)
{
    keys *k = *state;
    okno_anchor_key signer, verifier;
    load(&signer, k->priv, true);
    load(&verifier, k->pub, false);
    assert_false(verifier.has_private);
    assert_memory_equal(signer.id, verifier.id, OKNO_ANCHOR_KEY_ID_BYTES);
    okno_anchor a = sample();
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES];
    assert_int_equal(okno_anchor_sign(&signer, &a, rec), 0);
    okno_anchor b;
    assert_int_equal(okno_anchor_decode(rec, sizeof rec, &b), 0);
    assert_int_equal(b.checkpoint_no, 7);
    assert_true(b.through_tx == 123456789012ULL);
    assert_int_equal(b.through_position, 70000);
    assert_int_equal(b.events, 10000);
    assert_int_equal(b.total_events, 70000);
    assert_memory_equal(b.digest, a.digest, OKNO_EVENTLOG_HASH_BYTES);
    assert_int_equal(okno_anchor_verify(&verifier, &b), 0);
    assert_int_equal(okno_anchor_verify(&signer, &b), 0);
    okno_anchor_key_close(&signer);
    okno_anchor_key_close(&verifier);
}

static void record_layout_is_canonical_big_endian(void **state)
{
    keys *k = *state;
    okno_anchor_key signer;
    load(&signer, k->priv, true);
    okno_anchor a = sample(), again = sample();
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES], rec2[OKNO_ANCHOR_RECORD_BYTES];
    assert_int_equal(okno_anchor_sign(&signer, &a, rec), 0);
    assert_int_equal(okno_anchor_sign(&signer, &again, rec2), 0);
    /* Ed25519 is deterministic: a checkpoint published twice is the same bytes twice. */
    assert_memory_equal(rec, rec2, sizeof rec);
    assert_memory_equal(rec, "OKNOCKP1", 8);
    static const uint8_t no7[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    assert_memory_equal(rec + 8, no7, 8);
    assert_int_equal(rec[8 + 3 * 8 + 6], 10000 >> 8); /* events, big-endian */
    assert_int_equal(rec[8 + 3 * 8 + 7], 10000 & 0xff);
    assert_memory_equal(rec + 48, a.digest, OKNO_EVENTLOG_HASH_BYTES);
    assert_memory_equal(rec + 80, signer.id, OKNO_ANCHOR_KEY_ID_BYTES);
    okno_anchor_key_close(&signer);
}

static void any_changed_byte_fails_verification(void **state)
{
    keys *k = *state;
    okno_anchor_key signer;
    load(&signer, k->priv, true);
    okno_anchor a = sample();
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES];
    assert_int_equal(okno_anchor_sign(&signer, &a, rec), 0);
    for (size_t i = OKNO_ANCHOR_MAGIC_BYTES; i < sizeof rec; i++) {
        if (i >= 80 && i < 80 + OKNO_ANCHOR_KEY_ID_BYTES)
            continue; /* a changed key id is another key: the next test */
        uint8_t bad[OKNO_ANCHOR_RECORD_BYTES];
        memcpy(bad, rec, sizeof bad);
        bad[i] ^= 0x01;
        okno_anchor b;
        if (okno_anchor_decode(bad, sizeof bad, &b) != 0)
            continue; /* refused earlier, as malformed */
        assert_int_equal(okno_anchor_verify(&signer, &b), OKNO_EINVAL);
    }
    okno_anchor_key_close(&signer);
}

static void checkpoint_signed_by_another_key_is_named_as_such(void **state)
{
    keys *k = *state;
    okno_anchor_key other, verifier;
    load(&other, k->priv2, true);
    load(&verifier, k->pub, false);
    okno_anchor a = sample();
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES];
    assert_int_equal(okno_anchor_sign(&other, &a, rec), 0);
    okno_anchor b;
    assert_int_equal(okno_anchor_decode(rec, sizeof rec, &b), 0);
    assert_int_equal(okno_anchor_verify(&verifier, &b), OKNO_ENOTFOUND);
    /* Claiming the right key id does not help: the signature is still another key's. */
    memcpy(b.key_id, verifier.id, OKNO_ANCHOR_KEY_ID_BYTES);
    assert_int_equal(okno_anchor_verify(&verifier, &b), OKNO_EINVAL);
    okno_anchor_key_close(&other);
    okno_anchor_key_close(&verifier);
}

static void malformed_records_are_refused(void **state)
{
    keys *k = *state;
    okno_anchor_key signer;
    load(&signer, k->priv, true);
    okno_anchor a = sample(), b;
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES + 1] = {0};
    assert_int_equal(okno_anchor_sign(&signer, &a, rec), 0);
    assert_int_equal(okno_anchor_decode(rec, OKNO_ANCHOR_RECORD_BYTES - 1, &b), OKNO_EDECODE);
    assert_int_equal(okno_anchor_decode(rec, OKNO_ANCHOR_RECORD_BYTES + 1, &b), OKNO_EDECODE);
    assert_int_equal(okno_anchor_decode(NULL, 0, &b), OKNO_EDECODE);
    rec[0] = 'X';
    assert_int_equal(okno_anchor_decode(rec, OKNO_ANCHOR_RECORD_BYTES, &b), OKNO_EDECODE);
    okno_anchor_key_close(&signer);
}

static void key_files_are_checked(void **state)
{
    keys *k = *state;
    okno_anchor_key key;
    char err[256];
    /* The relay needs the private key: a public key file is refused with the reason. */
    assert_int_equal(okno_anchor_key_load(&key, k->pub, true, err, sizeof err), OKNO_ECONFIG);
    assert_non_null(strstr(err, k->pub));
    okno_anchor_key_close(&key);
    assert_int_equal(okno_anchor_key_load(&key, "/nonexistent/key.pem", false, err, sizeof err),
                     OKNO_EIO);
    okno_anchor_key_close(&key);
    /* An existing file is never overwritten by keygen. */
    assert_int_equal(okno_anchor_key_generate(k->priv, k->pub, err, sizeof err), OKNO_EIO);
    load(&key, k->priv, true);
    assert_true(key.has_private);
    okno_anchor_key_close(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signed_checkpoint_round_trips_and_verifies_with_the_public_key),
        cmocka_unit_test(record_layout_is_canonical_big_endian),
        cmocka_unit_test(any_changed_byte_fails_verification),
        cmocka_unit_test(checkpoint_signed_by_another_key_is_named_as_such),
        cmocka_unit_test(malformed_records_are_refused),
        cmocka_unit_test(key_files_are_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The bank's cryptography against published test vectors (FIPS 180-2,
 * RFC 4231, RFC 8032) and the key-file rules: a signing key is written 0600
 * and never loaded when others can read it. Keys live in a temporary dir. */
#include "lib/crypto.h"
#include "tests/unit_suites.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex_of(const uint8_t *bytes, size_t len, char *out)
{
    crypto_hex_encode(bytes, len, out);
}

START_TEST(sha256_abc)
{
    uint8_t digest[CRYPTO_HASH_LEN];
    char hex[2 * CRYPTO_HASH_LEN + 1];
    crypto_sha256("abc", 3, digest);
    hex_of(digest, sizeof digest, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(hmac_rfc4231_case2)
{
    uint8_t mac[CRYPTO_HASH_LEN];
    char hex[2 * CRYPTO_HASH_LEN + 1];
    const char *msg = "what do ya want for nothing?";
    ck_assert_int_eq(crypto_hmac_sha256("Jefe", 4, msg, strlen(msg), mac), 0);
    hex_of(mac, sizeof mac, hex);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(hex_round_trip)
{
    const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    uint8_t back[sizeof bytes];
    char hex[2 * sizeof bytes + 1];
    crypto_hex_encode(bytes, sizeof bytes, hex);
    ck_assert_str_eq(hex, "00017f80abff");
    ck_assert_int_eq(crypto_hex_decode(hex, back, sizeof back), 0);
    ck_assert_mem_eq(back, bytes, sizeof bytes);
    ck_assert_int_eq(crypto_hex_decode("00017F80ABFF", back, sizeof back), 0);
    ck_assert_mem_eq(back, bytes, sizeof bytes);
}
END_TEST

START_TEST(hex_rejects_bad_input)
{
    uint8_t out[3];
    ck_assert_int_eq(crypto_hex_decode("00112", out, 3), -1);
    ck_assert_int_eq(crypto_hex_decode("0011223", out, 3), -1);
    ck_assert_int_eq(crypto_hex_decode("00112g", out, 3), -1);
    ck_assert_int_eq(crypto_hex_decode("0x1122", out, 3), -1);
    ck_assert_int_eq(crypto_hex_decode(" 01122", out, 3), -1);
    ck_assert_int_eq(crypto_hex_decode(NULL, out, 3), -1);
}
END_TEST

START_TEST(sign_and_verify)
{
    struct lcb_error err = {0};
    uint8_t msg[32] = "a deposit hash of 32 bytes here";
    uint8_t sig[CRYPTO_SIG_LEN];
    EVP_PKEY *key = crypto_ed25519_generate(&err);
    EVP_PKEY *other = crypto_ed25519_generate(&err);
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(crypto_sign(key, msg, sizeof msg, sig, &err), 0);
    ck_assert_int_eq(crypto_verify(key, msg, sizeof msg, sig), 0);
    ck_assert_int_eq(crypto_verify(other, msg, sizeof msg, sig), -1);
    msg[5] ^= 0x01;
    ck_assert_int_eq(crypto_verify(key, msg, sizeof msg, sig), -1);
    msg[5] ^= 0x01;
    sig[40] ^= 0x80;
    ck_assert_int_eq(crypto_verify(key, msg, sizeof msg, sig), -1);
    sig[40] ^= 0x80;
    ck_assert_int_eq(crypto_verify(key, msg, sizeof msg, sig), 0);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
}
END_TEST

/* RFC 8032 section 7.1 TEST 1; the key id is the one in RECORD.md. */
START_TEST(ed25519_rfc8032_test1)
{
    static const char *seed_hex =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    static const char *sig_hex = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    struct lcb_error err = {0};
    uint8_t seed[32], sig[CRYPTO_SIG_LEN];
    char sig_out[2 * CRYPTO_SIG_LEN + 1], key_id[CRYPTO_KEY_ID_LEN + 1];
    ck_assert_int_eq(crypto_hex_decode(seed_hex, seed, sizeof seed), 0);
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(crypto_sign(key, (const uint8_t *)"", 0, sig, &err), 0);
    hex_of(sig, sizeof sig, sig_out);
    ck_assert_str_eq(sig_out, sig_hex);
    ck_assert_int_eq(crypto_key_id(key, key_id, &err), 0);
    ck_assert_str_eq(key_id, "21fe31dfa154a261");
    EVP_PKEY_free(key);
}
END_TEST

static char key_dir[64];
static char key_path[128];

static void key_dir_setup(void)
{
    snprintf(key_dir, sizeof key_dir, "/tmp/lcb-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(key_dir));
    snprintf(key_path, sizeof key_path, "%s/signing.pem", key_dir);
}

static void key_dir_teardown(void)
{
    unlink(key_path);
    rmdir(key_dir);
}

START_TEST(key_file_round_trip)
{
    struct lcb_error err = {0};
    struct stat st;
    char id_before[CRYPTO_KEY_ID_LEN + 1], id_after[CRYPTO_KEY_ID_LEN + 1];
    uint8_t sig[CRYPTO_SIG_LEN];
    EVP_PKEY *key = crypto_ed25519_generate(&err);
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(crypto_key_id(key, id_before, &err), 0);
    ck_assert_int_eq((int)strlen(id_before), CRYPTO_KEY_ID_LEN);
    ck_assert_int_eq(crypto_write_private_key(key, key_path, &err), 0);
    ck_assert_int_eq(stat(key_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* Never clobber a key that may still be needed for old records. */
    ck_assert_int_eq(crypto_write_private_key(key, key_path, &err), -1);

    EVP_PKEY *loaded = crypto_load_private_key(key_path, &err);
    ck_assert_msg(loaded != NULL, "%s", err.message);
    ck_assert_int_eq(crypto_key_id(loaded, id_after, &err), 0);
    ck_assert_str_eq(id_after, id_before);
    ck_assert_int_eq(crypto_sign(loaded, (const uint8_t *)"x", 1, sig, &err), 0);
    ck_assert_int_eq(crypto_verify(key, (const uint8_t *)"x", 1, sig), 0);
    EVP_PKEY_free(loaded);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(key_file_refused_when_readable)
{
    struct lcb_error err = {0};
    EVP_PKEY *key = crypto_ed25519_generate(&err);
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(crypto_write_private_key(key, key_path, &err), 0);
    ck_assert_int_eq(chmod(key_path, 0644), 0);
    ck_assert_ptr_null(crypto_load_private_key(key_path, &err));
    ck_assert_str_eq(err.code, "key_file");
    ck_assert_int_eq(chmod(key_path, 0640), 0);
    ck_assert_ptr_null(crypto_load_private_key(key_path, &err));
    ck_assert_ptr_null(crypto_load_private_key("/nonexistent/lcb.pem", &err));
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(public_pem_round_trip)
{
    struct lcb_error err = {0};
    char id_private[CRYPTO_KEY_ID_LEN + 1], id_public[CRYPTO_KEY_ID_LEN + 1];
    uint8_t sig[CRYPTO_SIG_LEN];
    EVP_PKEY *key = crypto_ed25519_generate(&err);
    ck_assert_ptr_nonnull(key);
    char *pem = crypto_public_key_pem(key, &err);
    ck_assert_ptr_nonnull(pem);
    ck_assert_ptr_nonnull(strstr(pem, "BEGIN PUBLIC KEY"));
    ck_assert_ptr_null(strstr(pem, "PRIVATE"));
    EVP_PKEY *pub = crypto_public_key_from_pem(pem, &err);
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(crypto_key_id(key, id_private, &err), 0);
    ck_assert_int_eq(crypto_key_id(pub, id_public, &err), 0);
    ck_assert_str_eq(id_private, id_public);
    ck_assert_int_eq(crypto_sign(key, (const uint8_t *)"m", 1, sig, &err), 0);
    ck_assert_int_eq(crypto_verify(pub, (const uint8_t *)"m", 1, sig), 0);
    ck_assert_ptr_null(crypto_public_key_from_pem("not a key", &err));
    EVP_PKEY_free(pub);
    free(pem);
    EVP_PKEY_free(key);
}
END_TEST

Suite *crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *digest = tcase_create("digest");
    tcase_add_test(digest, sha256_abc);
    tcase_add_test(digest, hmac_rfc4231_case2);
    tcase_add_test(digest, hex_round_trip);
    tcase_add_test(digest, hex_rejects_bad_input);
    suite_add_tcase(s, digest);

    TCase *ed = tcase_create("ed25519");
    tcase_add_test(ed, sign_and_verify);
    tcase_add_test(ed, ed25519_rfc8032_test1);
    tcase_add_test(ed, public_pem_round_trip);
    suite_add_tcase(s, ed);

    TCase *files = tcase_create("key_file");
    tcase_add_checked_fixture(files, key_dir_setup, key_dir_teardown);
    tcase_add_test(files, key_file_round_trip);
    tcase_add_test(files, key_file_refused_when_readable);
    suite_add_tcase(s, files);
    return s;
}

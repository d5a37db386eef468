/*
 * crypto.c -- unit tests of lib/base/crypto.c: hex encoding and decoding, SHA-256 and HMAC-SHA256
 * known answers, constant-time equality, the keyed secret digest used to compare bearer tokens
 * and API keys without leaking their length, initialisation and randomness.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/sg.h"
#include "tap.h"

static void hex_of(char out[65], const unsigned char d[32]) { sg_hex_encode(out, d, 32); }

static void unit_crypto_hex_encode(void) {
  static const unsigned char bin[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  char out[2 * sizeof bin + 2];
  memset(out, 'X', sizeof out);
  sg_hex_encode(out, bin, sizeof bin);
  is_str(out, "00017f80abcdefff", "lower-case hex of 8 bytes");
  is_int(out[16], '\0', "terminated after 2*len");
  is_int(out[17], 'X', "nothing written past the terminator");
  char empty[4] = "zzz";
  sg_hex_encode(empty, bin, 0);
  is_str(empty, "", "zero bytes give an empty string");
}

static void unit_crypto_hex_decode(void) {
  unsigned char out[8];
  static const unsigned char want[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  memset(out, 0x55, sizeof out);
  is_int(sg_hex_decode(out, 8, "00017f80abcdefff", 16), 0, "lower case decodes");
  ok(memcmp(out, want, 8) == 0, "to the right bytes");
  memset(out, 0x55, sizeof out);
  is_int(sg_hex_decode(out, 8, "00017F80ABCDEFFF", 16), 0, "upper case decodes");
  ok(memcmp(out, want, 8) == 0, "to the same bytes");
  memset(out, 0x55, sizeof out);
  is_int(sg_hex_decode(out, 8, "00017f80ABcdEFff", 16), 0, "mixed case decodes");
  ok(memcmp(out, want, 8) == 0, "to the same bytes");
  /* round trip over every byte value */
  unsigned char all[256], back[256];
  char hex[513];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  sg_hex_encode(hex, all, sizeof all);
  is_int(strlen(hex), 512, "256 bytes encode to 512 digits");
  is_int(sg_hex_decode(back, sizeof back, hex, strlen(hex)), 0, "and decode back");
  ok(memcmp(all, back, sizeof all) == 0, "round trip of every byte value");
  /* rejections */
  is_int(sg_hex_decode(out, 8, "00017f80abcdeff", 15), -1, "odd length (15 for 8 bytes)");
  is_int(sg_hex_decode(out, 4, "0001abf", 7), -1, "odd length (7 for 4 bytes)");
  is_int(sg_hex_decode(out, 8, "00017f80abcdef", 14), -1, "too short (7 bytes for 8)");
  is_int(sg_hex_decode(out, 4, "00017f80ab", 10), -1, "too long (5 bytes for 4)");
  is_int(sg_hex_decode(out, 4, "0001abfg", 8), -1, "a non-hex digit at the end");
  is_int(sg_hex_decode(out, 4, "g001abff", 8), -1, "a non-hex digit at the start");
  is_int(sg_hex_decode(out, 4, "00 1abff", 8), -1, "a space");
  is_int(sg_hex_decode(out, 4, "00:1:abf", 8), -1, "colons");
  is_int(sg_hex_decode(out, 4, "0x01abff", 8), -1, "a 0x prefix");
  is_int(sg_hex_decode(out, 4, "0001ab\0f", 8), -1, "an embedded NUL within hexlen");
  is_int(sg_hex_decode(out, 4, "", 0), -1, "empty input for 4 bytes");
  is_int(sg_hex_decode(out, 0, "", 0), 0, "empty input for 0 bytes");
}

static void unit_crypto_sha256(void) {
  unsigned char d[32];
  char hex[65];
  sg_sha256(d, "", 0);
  hex_of(hex, d);
  is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256(\"\")");
  sg_sha256(d, "abc", 3);
  hex_of(hex, d);
  is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "sha256(\"abc\")");
  static const char m[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sg_sha256(d, m, sizeof m - 1);
  hex_of(hex, d);
  is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
         "sha256 of the 448-bit FIPS 180-2 message");
  sg_sha256(d, "abcd", 3);
  hex_of(hex, d);
  is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "only len bytes are hashed");
}

static void unit_crypto_hmac_sha256(void) {
  unsigned char d[32];
  char hex[65];
  static const char data2[] = "what do ya want for nothing?";
  sg_hmac_sha256(d, "Jefe", 4, data2, sizeof data2 - 1);
  hex_of(hex, d);
  is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         "RFC 4231 test case 2");
  unsigned char key1[20];
  memset(key1, 0x0b, sizeof key1);
  sg_hmac_sha256(d, key1, sizeof key1, "Hi There", 8);
  hex_of(hex, d);
  is_str(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
         "RFC 4231 test case 1");
  unsigned char key6[131];
  memset(key6, 0xaa, sizeof key6);
  static const char data6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
  sg_hmac_sha256(d, key6, sizeof key6, data6, sizeof data6 - 1);
  hex_of(hex, d);
  is_str(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
         "RFC 4231 test case 6 (a 131-byte key)");
  sg_hmac_sha256(d, "dev-hmac", 8, "POST\n/api/repo/append\n2025-01-01T00:00:00Z", 42);
  hex_of(hex, d);
  is_str(hex, "9e6239d7af1830d3a4fc2b0eb2e602760ef028a4a8abfc6fc03ee23b24d650d7",
         "the SPEC 5 SB-HMAC vector");
}

static void unit_crypto_equal_ct(void) {
  static const unsigned char a[] = "0123456789abcdef0123456789abcdef";
  unsigned char b[sizeof a];
  memcpy(b, a, sizeof a);
  is_int(sg_equal_ct(a, b, 32), 1, "equal buffers");
  b[0] ^= 1;
  is_int(sg_equal_ct(a, b, 32), 0, "differ in the first byte");
  b[0] ^= 1;
  b[31] ^= 0x80;
  is_int(sg_equal_ct(a, b, 32), 0, "differ in the last byte");
  is_int(sg_equal_ct(a, b, 31), 1, "equal over the first 31 bytes");
  is_int(sg_equal_ct(a, b, 0), 1, "zero length is equal");
  is_int(sg_equal_ct("x", "y", 1), 0, "one byte differing");
}

static void unit_crypto_secret_digest(void) {
  unsigned char d1[40], d2[40], d3[40], d4[40];
  memset(d1, 0xEE, sizeof d1);
  memset(d2, 0xEE, sizeof d2);
  sg_secret_digest(d1, "abc", 3);
  sg_secret_digest(d2, "abc", 3);
  ok(memcmp(d1, d2, 32) == 0, "deterministic within a process");
  int guard = 1, touched = 0;
  for (int i = 32; i < 40; i++) guard &= d1[i] == 0xEE;
  for (int i = 0; i < 32; i++) touched += d1[i] != 0xEE;
  ok(guard, "exactly 32 bytes are written (the guard bytes are intact)");
  ok(touched >= 16, "the 32 bytes are written (%d of 32 changed)", touched);
  sg_secret_digest(d3, "abcd", 4);
  ok(memcmp(d1, d3, 32) != 0, "\"abc\" and \"abcd\" (a prefix) differ");
  sg_secret_digest(d3, "abd", 3);
  ok(memcmp(d1, d3, 32) != 0, "\"abc\" and \"abd\" differ");
  sg_secret_digest(d3, "abcd", 3);
  ok(memcmp(d1, d3, 32) == 0, "only len bytes count");
  sg_secret_digest(d3, "", 0);
  sg_secret_digest(d4, "\0", 1);
  ok(memcmp(d3, d4, 32) != 0, "the empty string and one NUL differ");
  /* keyed: not the plain (unkeyed) BLAKE2b-256 of the input, so digests mean nothing outside */
  char hex[65];
  hex_of(hex, d1);
  ok(strcmp(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319") != 0,
     "keyed: not the unkeyed BLAKE2b-256 of \"abc\"");
  ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0,
     "not the SHA-256 of \"abc\"");
  /* digests of long and short secrets compare with sg_equal_ct over a fixed 32 bytes */
  char longs[4096];
  memset(longs, 'a', sizeof longs);
  sg_secret_digest(d3, longs, sizeof longs);
  sg_secret_digest(d4, longs, sizeof longs - 1);
  ok(!sg_equal_ct(d3, d4, 32), "4096 and 4095 bytes of 'a' differ");
}

static void unit_crypto_init_idempotent(void) {
  unsigned char d1[32], d2[32];
  is_int(sg_crypto_init(), 0, "first init");
  sg_secret_digest(d1, "token", 5);
  is_int(sg_crypto_init(), 0, "second init");
  is_int(sg_crypto_init(), 0, "third init");
  sg_secret_digest(d2, "token", 5);
  ok(memcmp(d1, d2, 32) == 0, "the digest key survives re-initialisation");
}

static void unit_crypto_random(void) {
  is_int(sg_crypto_init(), 0, "init");
  uint64_t a = sg_random_u64(), b = sg_random_u64(), c = sg_random_u64();
  ok(a != b && b != c && a != c, "three sg_random_u64 values differ");
  unsigned char r1[32], r2[32], zero[32] = {0};
  sg_random_bytes(r1, sizeof r1);
  sg_random_bytes(r2, sizeof r2);
  ok(memcmp(r1, r2, 32) != 0, "two 32-byte random buffers differ");
  ok(memcmp(r1, zero, 32) != 0, "and are not zero");
}

static const tap_test tests[] = {
    TEST(unit_crypto_hex_encode),
    TEST(unit_crypto_hex_decode),
    TEST(unit_crypto_sha256),
    TEST(unit_crypto_hmac_sha256),
    TEST(unit_crypto_equal_ct),
    TEST(unit_crypto_secret_digest),
    TEST(unit_crypto_init_idempotent),
    TEST(unit_crypto_random),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

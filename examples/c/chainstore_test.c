/*
 * The C ABI end to end: open a store, commit blocks, read state and a proof, unwind, and provoke
 * each error class the chain API can reach (invalid input with its field, not found, locked,
 * read-only). Exits 0 if every check holds; CI runs it under valgrind's memcheck.
 *
 *   cargo build -p chainstore-ffi
 *   cc -Wall -Wextra -Werror -I crates/ffi/include examples/c/chainstore_test.c \
 *      "$CARGO_TARGET_DIR/debug/libchainstore_ffi.a" -lpthread -ldl -lm -Wl,-z,noexecstack \
 *      -o chainstore_test
 *   ./chainstore_test DIR          # DIR: an empty or missing directory
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainstore.h"

static int failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, cs_last_error());                                 \
            failures++;                                                                \
        }                                                                              \
    } while (0)

#define ALICE "0xa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define H1 "0x0101010101010101010101010101010101010101010101010101010101010101"
#define H2 "0x0202020202020202020202020202020202020202020202020202020202020202"

static const char *GENESIS =
    "{\"number\":0,\"hash\":\"" H1 "\",\"timestamp\":0,"
    "\"state\":{\"" ALICE "\":{\"balance\":\"0x64\",\"storage\":{\"0x1\":\"0x5\"}}}}";
static const char *BLOCK1 =
    "{\"number\":1,\"hash\":\"" H2 "\",\"parentHash\":\"" H1 "\",\"timestamp\":12,"
    "\"transactions\":[{\"hash\":\"0x" "03030303030303030303030303030303"
    "03030303030303030303030303030303\",\"from\":\"" ALICE "\",\"to\":null,\"nonce\":0,"
    "\"raw\":\"0x01\"}],"
    "\"receipts\":[{\"transactionHash\":\"0x" "03030303030303030303030303030303"
    "03030303030303030303030303030303\",\"status\":1,\"gasUsed\":21000,\"logs\":[]}],"
    "\"state\":{\"" ALICE "\":{\"balance\":\"0x32\",\"nonce\":1,\"storage\":{\"0x1\":\"0x7\"}}}}";

/* Whether the last error names `field`. */
static int field_is(const char *field) {
    const char *got = cs_last_error_field();
    return got != NULL && strcmp(got, field) == 0;
}

/* The last byte of a 32-byte word, the others zero. */
static int word_is(const uint8_t w[32], uint8_t last) {
    for (int i = 0; i < 31; i++)
        if (w[i] != 0) return 0;
    return w[31] == last;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    CsStore *store = NULL;
    char *doc = NULL;
    uint8_t word[32];

    CHECK(cs_store_open(dir, CS_OPEN_BUFFERED, &store) == CS_STATUS_OK);
    if (store == NULL) return 1;

    /* An empty store has no head. */
    CHECK(cs_store_head(store, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);

    CHECK(cs_store_commit(store, GENESIS, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"number\":\"0x0\"") != NULL);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_commit(store, BLOCK1, &doc) == CS_STATUS_OK);
    cs_string_free(doc);
    doc = NULL;

    /* State at the head and at block 0. */
    CHECK(cs_store_account(store, ALICE, NULL, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"balance\":\"0x32\"") && strstr(doc, "\"nonce\":\"0x1\""));
    cs_string_free(doc);
    doc = NULL;
    uint64_t genesis = 0;
    CHECK(cs_store_account(store, ALICE, &genesis, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"balance\":\"0x64\""));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_storage(store, ALICE, "0x1", NULL, word) == CS_STATUS_OK && word_is(word, 7));
    CHECK(cs_store_storage(store, ALICE, "1", &genesis, word) == CS_STATUS_OK && word_is(word, 5));
    CHECK(cs_store_storage(store, ALICE, "0x2", NULL, word) == CS_STATUS_OK && word_is(word, 0));

    /* A proof with a present and an absent slot. */
    const char *slots[] = {"0x1", "0x2"};
    CHECK(cs_store_proof(store, ALICE, slots, 2, NULL, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"accountProof\":[\"0x") && strstr(doc, "\"value\":\"0x7\""));
    cs_string_free(doc);
    doc = NULL;

    /* Invalid input: the field at fault, nothing changed, out-parameters untouched. */
    CHECK(cs_store_account(store, "0x1234", NULL, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("address") && doc == NULL);
    CHECK(cs_store_proof(store, ALICE, slots, 2, NULL, NULL) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("out"));
    const char *bad_slots[] = {"0x1", "zz"};
    CHECK(cs_store_proof(store, ALICE, bad_slots, 2, NULL, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("slots[1]"));
    CHECK(cs_store_commit(store, "{\"number\":2,\"hash\":\"0x12\"}", &doc) ==
          CS_STATUS_INVALID_INPUT);
    CHECK(field_is("hash") && strstr(cs_last_error(), "expected 32 bytes") != NULL);
    CHECK(cs_store_commit(store, GENESIS, &doc) == CS_STATUS_INVALID_INPUT && field_is("number"));
    CHECK(cs_store_commit(store, "not json", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(cs_last_error_field() == NULL && strstr(cs_last_error(), "invalid JSON") != NULL);
    CHECK(cs_store_commit(NULL, GENESIS, &doc) == CS_STATUS_INVALID_INPUT && field_is("store"));
    uint64_t above = 5;
    CHECK(cs_store_account(store, ALICE, &above, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("block"));
    CHECK(cs_store_unwind(store, 9, &doc) == CS_STATUS_INVALID_INPUT && field_is("to"));
    CHECK(doc == NULL);

    /* Not found. */
    CHECK(cs_store_account(store, "0x00000000000000000000000000000000000000ff", NULL, &doc) ==
          CS_STATUS_NOT_FOUND);

    /* Locked: a second handle on the same directory. */
    CsStore *second = NULL;
    CHECK(cs_store_open(dir, 0, &second) == CS_STATUS_LOCKED && second == NULL);
    CHECK(strstr(cs_last_error(), "already open") != NULL);
    CHECK(cs_store_open(dir, 0x80, &second) == CS_STATUS_INVALID_INPUT && field_is("flags"));

    /* Unwind to block 0. */
    CHECK(cs_store_unwind(store, 0, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"number\":\"0x0\"") && strstr(doc, H1));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_storage(store, ALICE, "0x1", NULL, word) == CS_STATUS_OK && word_is(word, 5));

    CHECK(cs_store_close(store) == CS_STATUS_OK);
    CHECK(cs_store_close(NULL) == CS_STATUS_OK);

    /* Read-only: queries work, commits are refused (an error of the class "other"). */
    CHECK(cs_store_open(dir, CS_OPEN_READ_ONLY, &store) == CS_STATUS_OK);
    CHECK(cs_store_head(store, &doc) == CS_STATUS_OK && strstr(doc, "\"number\":\"0x0\""));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_commit(store, BLOCK1, &doc) == CS_STATUS_ERROR);
    CHECK(strstr(cs_last_error(), "read-only") != NULL);
    CHECK(cs_store_close(store) == CS_STATUS_OK);

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("chainstore C ABI: all checks passed\n");
    return 0;
}

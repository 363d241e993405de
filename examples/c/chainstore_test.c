/*
 * The C ABI end to end. The chain store: open (flags and JSON options), commit blocks, read
 * blocks, transactions, receipts, logs, state, code and a proof, unwind, prune, verify and stats.
 * The database: write transactions (commit, rollback, conflict), snapshots, range, prefix and
 * reverse iteration, a quota. Each error class the API can reach is provoked (invalid input with
 * its field, not found, locked, read-only, pruned, conflict, quota exceeded). Every expected value
 * is derived from what this program committed. Exits 0 if every check holds; CI runs it under
 * valgrind's memcheck, which also checks that every string, byte buffer and handle is freed.
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
#define BOB "0xb0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define H1 "0x0101010101010101010101010101010101010101010101010101010101010101"
#define H2 "0x0202020202020202020202020202020202020202020202020202020202020202"
#define H3 "0x0303030303030303030303030303030303030303030303030303030303030303"
#define H4 "0x0404040404040404040404040404040404040404040404040404040404040404"
#define H5 "0x0505050505050505050505050505050505050505050505050505050505050505"
#define H9 "0x0909090909090909090909090909090909090909090909090909090909090909"
#define T1 "0x1111111111111111111111111111111111111111111111111111111111111111"
#define T2 "0x2222222222222222222222222222222222222222222222222222222222222222"

/* Genesis: Alice with 100 wei and slot 1 = 5. */
static const char *GENESIS =
    "{\"number\":0,\"hash\":\"" H1 "\",\"timestamp\":0,"
    "\"state\":{\"" ALICE "\":{\"balance\":\"0x64\",\"storage\":{\"0x1\":\"0x5\"}}}}";
/* Block 1: Alice's transaction H3 (two logs: Bob's with topic T1, Alice's with T1 and T2);
 * Alice has 50 wei, nonce 1 and slot 1 = 7; Bob gets code 0x6001. */
static const char *BLOCK1 =
    "{\"number\":1,\"hash\":\"" H2 "\",\"parentHash\":\"" H1 "\",\"timestamp\":12,"
    "\"transactions\":[{\"hash\":\"" H3 "\",\"from\":\"" ALICE "\",\"to\":\"" BOB "\","
    "\"nonce\":0,\"raw\":\"0x01\"}],"
    "\"receipts\":[{\"transactionHash\":\"" H3 "\",\"status\":1,\"gasUsed\":21000,\"logs\":["
    "{\"address\":\"" BOB "\",\"topics\":[\"" T1 "\"],\"data\":\"0x0a\"},"
    "{\"address\":\"" ALICE "\",\"topics\":[\"" T1 "\",\"" T2 "\"]}]}],"
    "\"state\":{\"" ALICE "\":{\"balance\":\"0x32\",\"nonce\":1,\"storage\":{\"0x1\":\"0x7\"}},"
    "\"" BOB "\":{\"code\":\"0x6001\"}}}";
/* Block 2: Alice's transaction H5 (one log: Bob's with topic T2); Alice's nonce is 2. */
static const char *BLOCK2 =
    "{\"number\":2,\"hash\":\"" H4 "\",\"parentHash\":\"" H2 "\",\"timestamp\":24,"
    "\"transactions\":[{\"hash\":\"" H5 "\",\"from\":\"" ALICE "\",\"to\":\"" BOB "\","
    "\"nonce\":1,\"raw\":\"0x02\"}],"
    "\"receipts\":[{\"transactionHash\":\"" H5 "\",\"status\":0,\"gasUsed\":30000,\"logs\":["
    "{\"address\":\"" BOB "\",\"topics\":[\"" T2 "\"]}]}],"
    "\"state\":{\"" ALICE "\":{\"nonce\":2}}}";

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

/* How often `needle` occurs in `haystack` (NULL: -1). */
static int count(const char *haystack, const char *needle) {
    if (haystack == NULL) return -1;
    int n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Whether `doc` contains `needle`, then frees it. */
static int has(char **doc, const char *needle) {
    int found = *doc != NULL && strstr(*doc, needle) != NULL;
    cs_string_free(*doc);
    *doc = NULL;
    return found;
}

/* Whether `b` holds exactly the text `s`, then frees it. */
static int bytes_are(CsBytes *b, const char *s) {
    int same = b->len == strlen(s) && (b->len == 0 || memcmp(b->ptr, s, b->len) == 0);
    cs_bytes_free(*b);
    b->ptr = NULL;
    b->len = 0;
    return same;
}

/* A key or value given as text: pointer and length. */
#define TEXT(s) (const uint8_t *)(s), strlen(s)

/* Drains and frees `it`: its pairs as "key=value;..." in `buf`. Returns the status that ended
 * it (CS_STATUS_NOT_FOUND at the end). */
static CsStatus drain(CsIter *it, char *buf, size_t cap) {
    CsBytes k, v;
    CsStatus s;
    buf[0] = '\0';
    while ((s = cs_iter_next(it, &k, &v)) == CS_STATUS_OK) {
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, "%.*s=%.*s;", (int)k.len, k.len ? (const char *)k.ptr : "",
                 (int)v.len, v.len ? (const char *)v.ptr : "");
        cs_bytes_free(k);
        cs_bytes_free(v);
    }
    CHECK(cs_iter_free(it) == CS_STATUS_OK);
    return s;
}

/* The chain store: commits, queries, unwind, read-only, options, prune, verify, stats. */
static void test_chain(const char *dir) {
    CsStore *store = NULL;
    char *doc = NULL;
    uint8_t word[32];
    CsBytes code = {NULL, 0};

    CHECK(cs_store_open(dir, CS_OPEN_BUFFERED, &store) == CS_STATUS_OK);
    if (store == NULL) return;

    /* An empty store has no head. */
    CHECK(cs_store_head(store, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);

    CHECK(cs_store_commit(store, GENESIS, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"number\":\"0x0\""));
    CHECK(cs_store_commit(store, BLOCK1, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"hash\":\"" H2 "\""));
    CHECK(cs_store_commit(store, BLOCK2, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"number\":\"0x2\""));

    /* State at the head and at blocks 0 and 1. */
    CHECK(cs_store_account(store, ALICE, NULL, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"balance\":\"0x32\"") && strstr(doc, "\"nonce\":\"0x2\""));
    cs_string_free(doc);
    doc = NULL;
    uint64_t genesis = 0, one = 1;
    CHECK(cs_store_account(store, ALICE, &genesis, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"balance\":\"0x64\""));
    CHECK(cs_store_account(store, ALICE, &one, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"nonce\":\"0x1\""));
    /* The same reads in binary: Alice's 20 bytes, her fields at the head and at genesis. */
    uint8_t alice[20];
    memset(alice, 0xa1, sizeof alice);
    CsAccount account;
    CHECK(cs_store_account_fields(store, alice, NULL, &account) == CS_STATUS_OK);
    CHECK(account.nonce == 2 && word_is(account.balance, 50));
    /* No code: keccak256 of the empty string, c5d2...a470. */
    CHECK(account.code_hash[0] == 0xc5 && account.code_hash[31] == 0x70);
    CHECK(cs_store_account_fields(store, alice, &genesis, &account) == CS_STATUS_OK);
    CHECK(account.nonce == 0 && word_is(account.balance, 100));
    CHECK(cs_store_account_fields(store, NULL, NULL, &account) == CS_STATUS_INVALID_INPUT &&
          field_is("address"));
    CHECK(cs_store_account_fields(store, alice, NULL, NULL) == CS_STATUS_INVALID_INPUT &&
          field_is("out"));
    CHECK(cs_store_storage(store, ALICE, "0x1", NULL, word) == CS_STATUS_OK && word_is(word, 7));
    CHECK(cs_store_storage(store, ALICE, "1", &genesis, word) == CS_STATUS_OK && word_is(word, 5));
    CHECK(cs_store_storage(store, ALICE, "0x2", NULL, word) == CS_STATUS_OK && word_is(word, 0));

    /* Code: Bob's since block 1, none before; Alice has none. */
    CHECK(cs_store_code(store, BOB, NULL, &code) == CS_STATUS_OK);
    CHECK(code.len == 2 && code.ptr != NULL && code.ptr[0] == 0x60 && code.ptr[1] == 0x01);
    cs_bytes_free(code);
    code.ptr = NULL;
    code.len = 0;
    CHECK(cs_store_code(store, BOB, &genesis, &code) == CS_STATUS_OK);
    CHECK(code.ptr == NULL && code.len == 0);
    CHECK(cs_store_code(store, ALICE, NULL, &code) == CS_STATUS_OK && code.len == 0);
    CHECK(cs_store_code(store, "0xb0b0", NULL, &code) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("address") && code.ptr == NULL);

    /* A proof with a present and an absent slot. */
    const char *slots[] = {"0x1", "0x2"};
    CHECK(cs_store_proof(store, ALICE, slots, 2, NULL, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"accountProof\":[\"0x") && strstr(doc, "\"value\":\"0x7\""));
    cs_string_free(doc);
    doc = NULL;

    /* Blocks by number and by hash. */
    CHECK(cs_store_block(store, 1, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"hash\":\"" H2 "\"") &&
          strstr(doc, "\"parentHash\":\"" H1 "\"") && strstr(doc, "\"timestamp\":\"0xc\"") &&
          strstr(doc, "\"transactions\":[{\"hash\":\"" H3 "\"") && count(doc, "\"raw\"") == 1);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_block_by_hash(store, H4, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"number\":\"0x2\"") && strstr(doc, "\"timestamp\":\"0x18\""));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_block(store, 3, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);
    CHECK(cs_store_block_by_hash(store, H9, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);
    CHECK(cs_store_block_by_hash(store, "0x0202", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("hash") && strstr(cs_last_error(), "expected 32 bytes") != NULL);
    CHECK(cs_store_block(NULL, 1, &doc) == CS_STATUS_INVALID_INPUT && field_is("store"));
    CHECK(cs_store_block(store, 1, NULL) == CS_STATUS_INVALID_INPUT && field_is("out"));

    /* Transactions and receipts. */
    CHECK(cs_store_transaction(store, H5, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"from\":\"" ALICE "\"") && strstr(doc, "\"to\":\"" BOB "\"") &&
          strstr(doc, "\"nonce\":\"0x1\"") && strstr(doc, "\"raw\":\"0x02\"") &&
          strstr(doc, "\"blockNumber\":\"0x2\"") && strstr(doc, "\"blockHash\":\"" H4 "\"") &&
          strstr(doc, "\"transactionIndex\":\"0x0\""));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_transaction(store, H9, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);
    CHECK(cs_store_receipt(store, H3, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"status\":\"0x1\"") && strstr(doc, "\"gasUsed\":\"0x5208\"") &&
          count(doc, "\"address\"") == 2 && strstr(doc, "\"data\":\"0x0a\"") &&
          strstr(doc, "\"blockHash\":\"" H2 "\""));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_receipt(store, H5, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"status\":\"0x0\""));
    CHECK(cs_store_receipt(store, H9, &doc) == CS_STATUS_NOT_FOUND && doc == NULL);
    CHECK(cs_store_receipt(store, "0x0g", &doc) == CS_STATUS_INVALID_INPUT && field_is("hash"));

    /* Logs: 3 in all; 2 of Bob; 2 with topic0 T1 (both in block 1); 1 with topic1 T2. */
    CHECK(cs_store_logs(store, "{}", &doc) == CS_STATUS_OK && count(doc, "\"logIndex\"") == 3);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"address\":\"" BOB "\"}", &doc) == CS_STATUS_OK);
    CHECK(count(doc, "\"logIndex\"") == 2 && count(doc, "\"address\":\"" BOB "\"") == 2);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"topics\":[\"" T1 "\"]}", &doc) == CS_STATUS_OK);
    CHECK(count(doc, "\"logIndex\"") == 2 && count(doc, "\"blockNumber\":\"0x1\"") == 2);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"topics\":[null,[\"" T2 "\",\"" H9 "\"]]}", &doc) == CS_STATUS_OK);
    CHECK(count(doc, "\"logIndex\":\"0x1\"") == 1 && count(doc, "\"address\":\"" ALICE "\"") == 1 &&
          count(doc, "\"logIndex\"") == 1);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"fromBlock\":\"0x2\",\"address\":[\"" ALICE "\",\"" BOB "\"]}",
                        &doc) == CS_STATUS_OK);
    CHECK(count(doc, "\"logIndex\"") == 1 && count(doc, "\"transactionHash\":\"" H5 "\"") == 1);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"fromBlock\":0,\"toBlock\":0}", &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strcmp(doc, "[]") == 0);
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_logs(store, "{\"address\":\"0xb0b0\"}", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("address") && strstr(cs_last_error(), "expected 20 bytes") != NULL);
    CHECK(cs_store_logs(store, "{\"topics\":[null,[\"" T1 "\",\"0x22\"]]}", &doc) ==
          CS_STATUS_INVALID_INPUT);
    CHECK(field_is("topics[1][1]"));
    CHECK(cs_store_logs(store, "{\"fromBlock\":\"latest\"}", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("fromBlock"));
    CHECK(cs_store_logs(store, "{\"blockHash\":\"" H2 "\"}", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("blockHash") && strstr(cs_last_error(), "unknown field") != NULL);
    CHECK(cs_store_logs(store, "{\"address\":", &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(cs_last_error_field() == NULL && strstr(cs_last_error(), "invalid JSON") != NULL);
    CHECK(cs_store_logs(store, NULL, &doc) == CS_STATUS_INVALID_INPUT && field_is("filter_json"));
    CHECK(doc == NULL);

    /* Invalid input: the field at fault, nothing changed, out-parameters untouched. */
    CHECK(cs_store_account(store, "0x1234", NULL, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("address") && doc == NULL);
    CHECK(cs_store_proof(store, ALICE, slots, 2, NULL, NULL) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("out"));
    const char *bad_slots[] = {"0x1", "zz"};
    CHECK(cs_store_proof(store, ALICE, bad_slots, 2, NULL, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("slots[1]"));
    CHECK(cs_store_commit(store, "{\"number\":3,\"hash\":\"0x12\"}", &doc) ==
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
    /* A NULL out-parameter is refused before the block is committed: the head stays at 2. */
    CHECK(cs_store_commit(store, BLOCK1, NULL) == CS_STATUS_INVALID_INPUT && field_is("out_head"));
    CHECK(cs_store_head(store, &doc) == CS_STATUS_OK && has(&doc, "\"number\":\"0x2\""));

    /* Not found. */
    CHECK(cs_store_account(store, "0x00000000000000000000000000000000000000ff", NULL, &doc) ==
          CS_STATUS_NOT_FOUND);
    uint8_t nobody[20] = {0};
    nobody[19] = 0xff;
    CHECK(cs_store_account_fields(store, nobody, NULL, &account) == CS_STATUS_NOT_FOUND);

    /* Verify and stats. */
    CHECK(cs_store_verify(store, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"ok\":true") && strstr(doc, "\"head\":\"0x2\"") &&
          strstr(doc, "\"problems\":[]"));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_stats(store, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"backend\":\"redb\"") &&
          strstr(doc, "\"head\":{\"number\":\"0x2\",\"hash\":\"" H4 "\""));
    cs_string_free(doc);
    doc = NULL;

    /* Locked: a second handle on the same directory. */
    CsStore *second = NULL;
    CHECK(cs_store_open(dir, 0, &second) == CS_STATUS_LOCKED && second == NULL);
    CHECK(strstr(cs_last_error(), "already open") != NULL);
    CHECK(cs_store_open_with(dir, NULL, &second) == CS_STATUS_LOCKED && second == NULL);
    CHECK(cs_store_open(dir, 0x80, &second) == CS_STATUS_INVALID_INPUT && field_is("flags"));

    /* Unwind to block 0. */
    CHECK(cs_store_unwind(store, 0, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"number\":\"0x0\"") && strstr(doc, H1));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_storage(store, ALICE, "0x1", NULL, word) == CS_STATUS_OK && word_is(word, 5));
    CHECK(cs_store_transaction(store, H3, &doc) == CS_STATUS_NOT_FOUND);
    CHECK(cs_store_block(store, 1, &doc) == CS_STATUS_NOT_FOUND);

    CHECK(cs_store_close(store) == CS_STATUS_OK);
    CHECK(cs_store_close(NULL) == CS_STATUS_OK);

    /* Read-only: queries work, commits are refused (an error of the class "other"). */
    CHECK(cs_store_open_with(dir, "{\"read_only\":true}", &store) == CS_STATUS_OK);
    CHECK(cs_store_head(store, &doc) == CS_STATUS_OK && has(&doc, "\"number\":\"0x0\""));
    CHECK(cs_store_commit(store, BLOCK1, &doc) == CS_STATUS_ERROR);
    CHECK(strstr(cs_last_error(), "read-only") != NULL);
    CHECK(cs_store_close(store) == CS_STATUS_OK);

    /* Bad options name their field and open nothing. */
    store = NULL;
    CHECK(cs_store_open_with(dir, "{\"backend\":\"lmdb\"}", &store) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("backend") && store == NULL);
    CHECK(cs_store_open_with(dir, "{\"durability\":\"sometimes\"}", &store) ==
          CS_STATUS_INVALID_INPUT);
    CHECK(field_is("durability"));
    CHECK(cs_store_open_with(dir, "{\"retention\":{\"history\":\"ten\"}}", &store) ==
          CS_STATUS_INVALID_INPUT);
    CHECK(field_is("retention.history"));
    CHECK(cs_store_open_with(dir, "{\"read_only\":1}", &store) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("read_only"));
    CHECK(cs_store_open_with(dir, "{\"readonly\":true}", &store) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("readonly") && strstr(cs_last_error(), "unknown field") != NULL);
    CHECK(cs_store_open_with(dir, "{", &store) == CS_STATUS_INVALID_INPUT);
    CHECK(cs_last_error_field() == NULL && store == NULL);

    /* Retention: keep 1 block of history and receipts. Blocks 1 and 2 again, then prune with the
     * retention given at open: state before block 1 and receipts before block 2 are gone. */
    CHECK(cs_store_open_with(dir,
                             "{\"durability\":\"buffered\",\"max_bytes\":null,"
                             "\"retention\":{\"history\":1,\"receipts\":\"0x1\",\"tx_index\":null}}",
                             &store) == CS_STATUS_OK);
    if (store == NULL) return;
    CHECK(cs_store_commit(store, BLOCK1, &doc) == CS_STATUS_OK && has(&doc, H2));
    CHECK(cs_store_commit(store, BLOCK2, &doc) == CS_STATUS_OK && has(&doc, H4));
    CHECK(cs_store_prune(store, "{\"history\":-1}", 0, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("retention.history") && doc == NULL);
    CHECK(cs_store_prune(store, "{\"blocks\":1}", 0, &doc) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("retention.blocks"));
    CHECK(cs_store_account(store, ALICE, &genesis, &doc) == CS_STATUS_OK && has(&doc, "0x64"));
    CHECK(cs_store_prune(store, NULL, 0, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strstr(doc, "\"stateHistory\":1") && strstr(doc, "\"receipts\":2") &&
          strstr(doc, "\"transactionIndex\":0"));
    cs_string_free(doc);
    doc = NULL;
    CHECK(cs_store_account(store, ALICE, &genesis, &doc) == CS_STATUS_PRUNED && doc == NULL);
    CHECK(cs_store_storage(store, ALICE, "0x1", &genesis, word) == CS_STATUS_PRUNED);
    CHECK(cs_store_account(store, ALICE, &one, &doc) == CS_STATUS_OK && has(&doc, "\"nonce\":\"0x1\""));
    CHECK(cs_store_receipt(store, H3, &doc) == CS_STATUS_PRUNED && doc == NULL);
    CHECK(cs_store_transaction(store, H3, &doc) == CS_STATUS_OK && has(&doc, H3));
    CHECK(cs_store_receipt(store, H5, &doc) == CS_STATUS_OK && has(&doc, H5));
    CHECK(cs_store_logs(store, "{\"fromBlock\":1}", &doc) == CS_STATUS_PRUNED && doc == NULL);
    CHECK(cs_store_logs(store, "{}", &doc) == CS_STATUS_OK && count(doc, "\"logIndex\"") == 1);
    cs_string_free(doc);
    doc = NULL;
    /* An explicit retention, in batches of one operation: nothing more to prune. */
    CHECK(cs_store_prune(store, "{\"history\":2}", 1, &doc) == CS_STATUS_OK);
    CHECK(has(&doc, "\"pruned\":[]"));
    CHECK(cs_store_verify(store, &doc) == CS_STATUS_OK && has(&doc, "\"ok\":true"));
    CHECK(cs_store_close(store) == CS_STATUS_OK);
}

/* The transactional database. */
static void test_db(const char *dir, const char *quota_dir) {
    CsDb *db = NULL;
    CsWriteTxn *txn = NULL, *other = NULL;
    CsReadTxn *snap = NULL, *old = NULL;
    CsIter *it = NULL;
    CsBytes value = {NULL, 0};
    uint64_t seq1 = 0, seq2 = 0, seen = 0;
    char *doc = NULL;
    char pairs[256];

    CHECK(cs_db_open(dir, NULL, &db) == CS_STATUS_OK);
    if (db == NULL) return;

    /* One transaction: three accounts and a peer; its reads see its own writes. */
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("alice"), TEXT("100")) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("bob"), TEXT("50")) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("carol"), TEXT("7")) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "peers", TEXT("n1"), TEXT("10.0.0.1")) == CS_STATUS_OK);
    /* The empty key (NULL with length 0) and an empty value. */
    CHECK(cs_write_txn_put(txn, "misc", NULL, 0, TEXT("")) == CS_STATUS_OK);
    CHECK(cs_write_txn_get(txn, "accounts", TEXT("bob"), &value) == CS_STATUS_OK);
    CHECK(bytes_are(&value, "50"));
    CHECK(cs_write_txn_get(txn, "accounts", TEXT("dave"), &value) == CS_STATUS_NOT_FOUND);
    CHECK(value.ptr == NULL && value.len == 0);
    CHECK(cs_write_txn_commit(txn, &seq1) == CS_STATUS_OK && seq1 > 0);
    txn = NULL;

    /* A snapshot sees the commit. */
    CHECK(cs_db_begin_read(db, &old) == CS_STATUS_OK);
    CHECK(cs_read_txn_seq(old, &seen) == CS_STATUS_OK && seen == seq1);
    CHECK(cs_read_txn_get(old, "accounts", TEXT("alice"), &value) == CS_STATUS_OK);
    CHECK(bytes_are(&value, "100"));
    CHECK(cs_read_txn_get(old, "misc", TEXT(""), &value) == CS_STATUS_OK);
    CHECK(value.ptr == NULL && value.len == 0);
    CHECK(cs_read_txn_get(old, "accounts", TEXT("zed"), &value) == CS_STATUS_NOT_FOUND);
    CHECK(cs_read_txn_tables(old, &doc) == CS_STATUS_OK);
    CHECK(doc != NULL && strcmp(doc, "[\"accounts\",\"misc\",\"peers\"]") == 0);
    cs_string_free(doc);
    doc = NULL;

    /* Range [b, c), everything in reverse, prefix "al". */
    CHECK(cs_read_txn_range(old, "accounts", TEXT("b"), TEXT("c"), false, &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND && strcmp(pairs, "bob=50;") == 0);
    CHECK(cs_read_txn_range(old, "accounts", NULL, 0, NULL, 0, true, &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND);
    CHECK(strcmp(pairs, "carol=7;bob=50;alice=100;") == 0);
    CHECK(cs_read_txn_prefix(old, "accounts", TEXT("al"), &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND && strcmp(pairs, "alice=100;") == 0);

    /* A second transaction (buffered): delete bob, add dave; its range sees its own writes. */
    CHECK(cs_db_begin_write(db, "buffered", &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_delete(txn, "accounts", TEXT("bob")) == CS_STATUS_OK);
    CHECK(cs_write_txn_delete(txn, "accounts", TEXT("nobody")) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("dave"), TEXT("1")) == CS_STATUS_OK);
    CHECK(cs_write_txn_range(txn, "accounts", TEXT("b"), NULL, 0, false, &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND);
    CHECK(strcmp(pairs, "carol=7;dave=1;") == 0);
    CHECK(cs_write_txn_prefix(txn, "accounts", TEXT("d"), &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND && strcmp(pairs, "dave=1;") == 0);
    CHECK(cs_write_txn_commit(txn, &seq2) == CS_STATUS_OK && seq2 > seq1);
    txn = NULL;

    /* The old snapshot still sees bob; a new one does not. An iterator outlives its snapshot. */
    CHECK(cs_read_txn_get(old, "accounts", TEXT("bob"), &value) == CS_STATUS_OK);
    CHECK(bytes_are(&value, "50"));
    CHECK(cs_db_begin_read(db, &snap) == CS_STATUS_OK);
    CHECK(cs_read_txn_get(snap, "accounts", TEXT("bob"), &value) == CS_STATUS_NOT_FOUND);
    CHECK(cs_read_txn_range(old, "accounts", NULL, 0, NULL, 0, false, &it) == CS_STATUS_OK);
    CHECK(cs_read_txn_free(old) == CS_STATUS_OK);
    old = NULL;
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND);
    CHECK(strcmp(pairs, "alice=100;bob=50;carol=7;") == 0);

    /* Rollback: nothing written. */
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("zed"), TEXT("9")) == CS_STATUS_OK);
    CHECK(cs_write_txn_rollback(txn) == CS_STATUS_OK);
    txn = NULL;
    CHECK(cs_write_txn_rollback(NULL) == CS_STATUS_OK);
    CHECK(cs_read_txn_free(snap) == CS_STATUS_OK);
    CHECK(cs_db_begin_read(db, &snap) == CS_STATUS_OK);
    CHECK(cs_read_txn_get(snap, "accounts", TEXT("zed"), &value) == CS_STATUS_NOT_FOUND);
    CHECK(cs_read_txn_seq(snap, &seen) == CS_STATUS_OK && seen == seq2);
    CHECK(cs_read_txn_free(snap) == CS_STATUS_OK);
    snap = NULL;

    /* Conflict: two transactions write carol; the second to commit fails, and is freed. */
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_db_begin_write(db, NULL, &other) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("carol"), TEXT("8")) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(other, "accounts", TEXT("carol"), TEXT("9")) == CS_STATUS_OK);
    CHECK(cs_write_txn_commit(txn, &seen) == CS_STATUS_OK && seen > seq2);
    seen = 0;
    CHECK(cs_write_txn_commit(other, &seen) == CS_STATUS_CONFLICT && seen == 0);
    txn = other = NULL;
    CHECK(cs_db_begin_read(db, &snap) == CS_STATUS_OK);
    CHECK(cs_read_txn_get(snap, "accounts", TEXT("carol"), &value) == CS_STATUS_OK);
    CHECK(bytes_are(&value, "8"));
    CHECK(cs_read_txn_free(snap) == CS_STATUS_OK);
    snap = NULL;

    /* Invalid input. */
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "", TEXT("k"), TEXT("v")) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("table"));
    CHECK(cs_write_txn_put(txn, "__meta", TEXT("k"), TEXT("v")) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("table"));
    CHECK(cs_write_txn_put(txn, "t", NULL, 3, TEXT("v")) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("key"));
    CHECK(cs_write_txn_put(txn, "t", TEXT("k"), NULL, 1) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("value"));
    it = NULL;
    CHECK(cs_write_txn_range(txn, "t", NULL, 2, NULL, 0, false, &it) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("start") && it == NULL);
    CHECK(cs_write_txn_get(txn, "t", TEXT("k"), NULL) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("out_value"));
    CHECK(cs_write_txn_put(NULL, "t", TEXT("k"), TEXT("v")) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("txn"));
    /* A commit with a NULL out-parameter writes nothing, and frees the transaction. */
    CHECK(cs_write_txn_put(txn, "t", TEXT("k"), TEXT("v")) == CS_STATUS_OK);
    CHECK(cs_write_txn_commit(txn, NULL) == CS_STATUS_INVALID_INPUT && field_is("out_seq"));
    txn = NULL;
    CHECK(cs_write_txn_commit(NULL, &seen) == CS_STATUS_INVALID_INPUT && field_is("txn"));
    CHECK(cs_db_begin_write(db, "sometimes", &txn) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("durability") && txn == NULL);
    CHECK(cs_db_begin_read(NULL, &snap) == CS_STATUS_INVALID_INPUT && field_is("db"));
    CHECK(cs_read_txn_get(NULL, "t", TEXT("k"), &value) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("txn"));
    CHECK(cs_iter_next(NULL, &value, &value) == CS_STATUS_INVALID_INPUT && field_is("iter"));
    CHECK(cs_iter_free(NULL) == CS_STATUS_OK && cs_read_txn_free(NULL) == CS_STATUS_OK);
    CHECK(cs_db_begin_read(db, &snap) == CS_STATUS_OK);
    CHECK(cs_read_txn_get(snap, "t", TEXT("k"), &value) == CS_STATUS_NOT_FOUND);
    CHECK(cs_read_txn_free(snap) == CS_STATUS_OK);
    snap = NULL;

    /* Locked; options a database does not have. */
    CsDb *second = NULL;
    CHECK(cs_db_open(dir, NULL, &second) == CS_STATUS_LOCKED && second == NULL);
    CHECK(cs_db_open(dir, "{\"retention\":{}}", &second) == CS_STATUS_INVALID_INPUT);
    CHECK(field_is("retention") && second == NULL);
    CHECK(cs_db_flush(db) == CS_STATUS_OK);
    CHECK(cs_db_close(db) == CS_STATUS_OK);
    CHECK(cs_db_close(NULL) == CS_STATUS_OK);

    /* Read-only: reads work, commits are refused. */
    CHECK(cs_db_open(dir, "{\"read_only\":true,\"backend\":\"redb\"}", &db) == CS_STATUS_OK);
    if (db == NULL) return;
    CHECK(cs_db_begin_read(db, &snap) == CS_STATUS_OK);
    CHECK(cs_read_txn_range(snap, "accounts", NULL, 0, NULL, 0, false, &it) == CS_STATUS_OK);
    CHECK(drain(it, pairs, sizeof pairs) == CS_STATUS_NOT_FOUND);
    CHECK(strcmp(pairs, "alice=100;carol=8;dave=1;") == 0);
    CHECK(cs_read_txn_free(snap) == CS_STATUS_OK);
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "accounts", TEXT("eve"), TEXT("3")) == CS_STATUS_OK);
    CHECK(cs_write_txn_commit(txn, &seen) == CS_STATUS_ERROR);
    CHECK(strstr(cs_last_error(), "read-only") != NULL);
    CHECK(cs_db_close(db) == CS_STATUS_OK);

    /* A quota of one byte: any commit with a put exceeds it. */
    db = NULL;
    CHECK(cs_db_open(quota_dir, "{\"max_bytes\":1}", &db) == CS_STATUS_OK);
    if (db == NULL) return;
    CHECK(cs_db_begin_write(db, NULL, &txn) == CS_STATUS_OK);
    CHECK(cs_write_txn_put(txn, "t", TEXT("k"), TEXT("v")) == CS_STATUS_OK);
    CHECK(cs_write_txn_commit(txn, &seen) == CS_STATUS_QUOTA_EXCEEDED);
    CHECK(cs_db_close(db) == CS_STATUS_OK);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char chain[4096], db[4096], quota[4096];
    snprintf(chain, sizeof chain, "%s/chain", argv[1]);
    snprintf(db, sizeof db, "%s/db", argv[1]);
    snprintf(quota, sizeof quota, "%s/quota", argv[1]);

    test_chain(chain);
    test_db(db, quota);

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("chainstore C ABI: all checks passed\n");
    return 0;
}

/*
 * auc_window.c — exact sliding-window AUC (see the header).
 *
 * AUC = (#(pos, neg) with s_pos > s_neg + 1/2 #(ties)) / (P N). The window
 * keeps twice that numerator as an integer-valued double (exact below 2^53)
 * and one order-statistics tree per class (a treap keyed by score, with
 * counts of equal scores and subtree sizes): a positive that enters adds
 * 2 #(neg below) + #(neg equal), a negative adds 2 #(pos above) + #(pos
 * equal); leaving subtracts the same.
 */
#include "auc_window.h"

#include "auc_count.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sf_auc_node {
    double key;
    uint32_t left, right; /* 0: none (node 0 is never used) */
    uint32_t prio;
    uint32_t dup;  /* records with this score */
    uint64_t size; /* records in this subtree */
};

static double key_of(double score) { return isnan(score) ? -INFINITY : score; }

static uint64_t size_of(const sf_auc_window *w, uint32_t n) { return n ? w->nodes[n].size : 0; }

static void update(sf_auc_window *w, uint32_t n)
{
    sf_auc_node *x = &w->nodes[n];
    x->size = x->dup + size_of(w, x->left) + size_of(w, x->right);
}

static uint32_t next_prio(sf_auc_window *w)
{
    w->seed ^= w->seed << 13; /* xorshift64 */
    w->seed ^= w->seed >> 7;
    w->seed ^= w->seed << 17;
    return (uint32_t)(w->seed >> 32);
}

static uint32_t rotate_right(sf_auc_window *w, uint32_t n)
{
    uint32_t l = w->nodes[n].left;
    w->nodes[n].left = w->nodes[l].right;
    w->nodes[l].right = n;
    update(w, n);
    update(w, l);
    return l;
}

static uint32_t rotate_left(sf_auc_window *w, uint32_t n)
{
    uint32_t r = w->nodes[n].right;
    w->nodes[n].right = w->nodes[r].left;
    w->nodes[r].left = n;
    update(w, n);
    update(w, r);
    return r;
}

static uint32_t insert(sf_auc_window *w, uint32_t n, double key)
{
    if (!n) {
        uint32_t id = w->free_list;
        w->free_list = w->nodes[id].left;
        w->nodes[id] = (sf_auc_node){.key = key, .prio = next_prio(w), .dup = 1, .size = 1};
        return id;
    }
    sf_auc_node *x = &w->nodes[n];
    if (key == x->key) {
        x->dup++;
        x->size++;
        return n;
    }
    if (key < x->key) {
        uint32_t c = insert(w, x->left, key);
        w->nodes[n].left = c;
        if (w->nodes[c].prio > w->nodes[n].prio) return rotate_right(w, n);
    } else {
        uint32_t c = insert(w, x->right, key);
        w->nodes[n].right = c;
        if (w->nodes[c].prio > w->nodes[n].prio) return rotate_left(w, n);
    }
    update(w, n);
    return n;
}

/* Join two treaps whose keys are all below / all above each other. */
static uint32_t join(sf_auc_window *w, uint32_t a, uint32_t b)
{
    if (!a) return b;
    if (!b) return a;
    if (w->nodes[a].prio > w->nodes[b].prio) {
        w->nodes[a].right = join(w, w->nodes[a].right, b);
        update(w, a);
        return a;
    }
    w->nodes[b].left = join(w, a, w->nodes[b].left);
    update(w, b);
    return b;
}

static uint32_t erase(sf_auc_window *w, uint32_t n, double key)
{
    if (!n) return 0; /* not there: nothing to take out */
    sf_auc_node *x = &w->nodes[n];
    if (key < x->key) {
        x->left = erase(w, x->left, key);
    } else if (key > x->key) {
        x->right = erase(w, x->right, key);
    } else if (x->dup > 1) {
        x->dup--;
    } else {
        uint32_t j = join(w, x->left, x->right);
        x->left = w->free_list;
        w->free_list = n;
        return j;
    }
    update(w, n);
    return n;
}

/* Records in the tree with a score below `key`, and equal to it. */
static void rank(const sf_auc_window *w, uint32_t n, double key, uint64_t *below, uint64_t *equal)
{
    *below = *equal = 0;
    while (n) {
        const sf_auc_node *x = &w->nodes[n];
        if (key < x->key) {
            n = x->left;
        } else if (key > x->key) {
            *below += size_of(w, x->left) + x->dup;
            n = x->right;
        } else {
            *below += size_of(w, x->left);
            *equal = x->dup;
            return;
        }
    }
}

sf_status sf_auc_window_init(sf_auc_window *w, size_t capacity)
{
    memset(w, 0, sizeof *w);
    w->capacity = capacity;
    w->nodes = malloc(sizeof(sf_auc_node) * (capacity + 2));
    w->keys = malloc(sizeof(double) * (capacity + 1));
    w->sort_scratch = malloc(sizeof(uint64_t) * (2 * capacity + 1));
    if (!w->nodes || !w->keys || !w->sort_scratch) {
        sf_auc_window_free(w);
        return SF_ERR_NO_MEMORY;
    }
    sf_auc_window_clear(w);
    return SF_OK;
}

void sf_auc_window_clear(sf_auc_window *w)
{
    /* free list through `left`, nodes 1 .. capacity+1 */
    for (size_t i = 1; i < w->capacity + 2; i++)
        w->nodes[i].left = i + 1 < w->capacity + 2 ? (uint32_t)(i + 1) : 0;
    w->free_list = 1;
    w->root[0] = w->root[1] = 0;
    w->count[0] = w->count[1] = 0;
    w->pairs = 0;
    w->seed = 0x9E3779B97F4A7C15ull;
    w->counted_only = false;
}

void sf_auc_window_free(sf_auc_window *w)
{
    free(w->nodes);
    free(w->keys);
    free(w->sort_scratch);
    memset(w, 0, sizeof *w);
}

/* Twice the pairs a record of class `cls` with this key makes with the other class. */
static double pairs_with_other(const sf_auc_window *w, double key, int cls)
{
    int other = !cls;
    uint64_t below, equal;
    rank(w, w->root[other], key, &below, &equal);
    uint64_t above = w->count[other] - below - equal;
    return cls ? 2.0 * (double)below + (double)equal : 2.0 * (double)above + (double)equal;
}

void sf_auc_window_add(sf_auc_window *w, double score, bool positive)
{
    double key = key_of(score);
    int cls = positive ? 1 : 0;
    if (!w->free_list) return; /* over capacity: the caller broke the contract */
    w->pairs += pairs_with_other(w, key, cls);
    w->root[cls] = insert(w, w->root[cls], key);
    w->count[cls]++;
}

void sf_auc_window_remove(sf_auc_window *w, double score, bool positive)
{
    double key = key_of(score);
    int cls = positive ? 1 : 0;
    uint64_t below, equal;
    rank(w, w->root[cls], key, &below, &equal);
    if (!equal) return; /* never entered */
    w->root[cls] = erase(w, w->root[cls], key);
    w->count[cls]--;
    w->pairs -= pairs_with_other(w, key, cls);
}

void sf_auc_window_recount(sf_auc_window *w, const double *score, size_t stride,
                           const double *label, size_t n)
{
    sf_auc_window_clear(w);
    w->counted_only = true;
    if (n > w->capacity) n = w->capacity; /* the caller broke the contract */
    /* Positives' keys from the front of the scratch, negatives' from the back. */
    size_t np = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        double key = key_of(score[i * stride]);
        if (label[i] == 1)
            w->keys[np++] = key;
        else
            w->keys[n - 1 - nn++] = key;
    }
    w->pairs = sf_auc_pairs2(w->keys, np, w->keys + np, nn, w->sort_scratch);
    w->count[1] = np;
    w->count[0] = nn;
}

double sf_auc_window_value(const sf_auc_window *w)
{
    if (!w->count[0] || !w->count[1]) return NAN;
    return 0.5 * w->pairs / ((double)w->count[0] * (double)w->count[1]);
}

/*
 * fuzz_taxii.c -- libFuzzer target: the TAXII 2.1 merge of src/fetch.c, as
 * a TAXII server (or a damaged state file) may drive it.
 *
 * The input is cut at each line "%%": the first part is the previous
 * bundle when there is more than one part, the others are envelopes merged
 * in turn, as the pages of one poll.  Checked after each page: a page
 * refused leaves the bundle as it was, and so does one said to change
 * nothing; ids are unique and the index points at them; the object kept
 * for an id is not older than any version of it in the page; merging the
 * same page again changes nothing; the dumped bundle is taken back whole.
 * The RFC 3339 reader is checked too: for each "modified" it accepts in
 * UTC, the date and time it computed print back as the same text, and the
 * order of two times is antisymmetric.
 *
 * The file includes src/fetch.c, to reach its file-local functions.
 */
#include "fetch.c"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define FUZZ_PARTS	8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Index and objects agree; ids are unique. */
static void
check_index(struct taxii_merge *m)
{
	json_t *o, *pos;
	const char *id;
	size_t i;

	CHECK(json_is_array(m->objects));
	CHECK(json_object_get(m->bundle, "objects") == m->objects);
	CHECK(json_object_size(m->index) == json_array_size(m->objects));
	json_array_foreach(m->objects, i, o) {
		CHECK((id = json_string_value(json_object_get(o, "id"))) !=
		    NULL);
		CHECK((pos = json_object_get(m->index, id)) != NULL);
		CHECK(json_integer_value(pos) == (json_int_t)i);
	}
}

/* A "modified" accepted in UTC prints back as itself. */
static void
check_time(const char *s)
{
	int64_t sec;
	uint64_t frac;
	struct tm tm;
	time_t t;
	char back[32];

	if (s == NULL || rfc3339(s, &sec, &frac) < 0)
		return;
	if (s[10] != 'T' || s[17] == '6' || strchr(s, 'Z') == NULL)
		return;
	t = (time_t)sec;
	CHECK(gmtime_r(&t, &tm) != NULL);
	snprintf(back, sizeof(back), "%04d-%02d-%02dT%02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	CHECK(strncmp(back, s, 19) == 0);
}

/* Merge PAGE into M and check what the merge promises. */
static void
merge_one(struct taxii_merge *m, const char *page, size_t len)
{
	json_t *before, *after, *env, *objs, *o, *kept, *pos;
	char *next = NULL, *next2 = NULL, err[256];
	const char *id;
	int more, more2, rc;
	size_t i, n;

	CHECK((before = json_deep_copy(m->bundle)) != NULL);
	m->changed = 0;
	rc = taxii_merge_page(m, page, len, &more, &next, err, sizeof(err));
	if (rc == -ENOMEM)
		goto out;
	CHECK(rc == 0 || rc == -EBADMSG);
	CHECK(more == 0 || more == 1);
	check_index(m);
	if (rc < 0) {
		CHECK(next == NULL);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		CHECK(json_equal(before, m->bundle));
		goto out;
	}
	CHECK(m->changed || json_equal(before, m->bundle));
	/* Each version in the page is not newer than the one kept. */
	CHECK((env = json_loadb(page, len, JSON_REJECT_DUPLICATES, NULL)) !=
	    NULL);
	objs = json_object_get(env, "objects");
	json_array_foreach(objs, i, o) {
		id = json_string_value(json_object_get(o, "id"));
		CHECK(id != NULL);
		CHECK((pos = json_object_get(m->index, id)) != NULL);
		kept = json_array_get(m->objects,
		    (size_t)json_integer_value(pos));
		CHECK(modified_cmp(kept, o) >= 0);
		CHECK(modified_cmp(kept, o) == -modified_cmp(o, kept));
		check_time(json_string_value(json_object_get(o, "modified")));
	}
	json_decref(env);
	/* Once more: nothing changes. */
	CHECK((after = json_deep_copy(m->bundle)) != NULL);
	n = json_array_size(m->objects);
	rc = taxii_merge_page(m, page, len, &more2, &next2, err, sizeof(err));
	if (rc == 0) {
		CHECK(more2 == more);
		CHECK((next == NULL) == (next2 == NULL));
		CHECK(next == NULL || strcmp(next, next2) == 0);
		CHECK(json_array_size(m->objects) == n);
		CHECK(json_equal(after, m->bundle));
	} else
		CHECK(rc == -ENOMEM);
	json_decref(after);
out:
	free(next);
	free(next2);
	json_decref(before);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct taxii_merge m, back;
	const char *parts[FUZZ_PARTS], *p, *end = (const char *)data + size;
	size_t lens[FUZZ_PARTS], n = 0, i;
	char *doc;
	int rc;

	/* Cut at "\n%%\n". */
	p = (const char *)data;
	while (n < FUZZ_PARTS - 1) {
		const char *cut = memmem(p, (size_t)(end - p), "\n%%\n", 4);

		if (cut == NULL)
			break;
		parts[n] = p;
		lens[n++] = (size_t)(cut - p);
		p = cut + 4;
	}
	parts[n] = p;
	lens[n++] = (size_t)(end - p);

	if (n > 1)
		rc = taxii_merge_init(&m, parts[0], lens[0]);
	else
		rc = taxii_merge_init(&m, NULL, 0);
	if (rc == -ENOMEM)
		return 0;
	CHECK(rc == 0 || rc == 1);
	CHECK(rc == 1 || json_array_size(m.objects) == 0);
	check_index(&m);
	for (i = n > 1 ? 1 : 0; i < n; i++)
		merge_one(&m, parts[i], lens[i]);

	/* What is kept is taken back whole by the next poll. */
	if ((doc = json_dumps(m.bundle, JSON_COMPACT)) != NULL) {
		rc = taxii_merge_init(&back, doc, strlen(doc));
		if (rc != -ENOMEM) {
			CHECK(rc == 1);
			CHECK(json_equal(back.bundle, m.bundle));
			check_index(&back);
			taxii_merge_free(&back);
		}
		free(doc);
	}
	taxii_merge_free(&m);
	return 0;
}

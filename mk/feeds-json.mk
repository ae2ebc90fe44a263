# mk/feeds-json.mk -- tests and fuzz targets of the JSON feed formats,
# stix2 and misp.  Each unit test compiles its plugin's feed.c in, as the
# fuzz targets do; their data are distributed with tests/unit/data and
# tests/fuzz.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_feed_stix2 tests/unit/test_feed_misp
tests_unit_test_feed_stix2_SOURCES = tests/unit/test_feed_stix2.c \
	plugins/feed-stix2/feed.c plugins/plugin.h
tests_unit_test_feed_stix2_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_stix2_LDADD = $(JANSSON_LIBS) $(CMOCKA_LIBS)
tests_unit_test_feed_misp_SOURCES = tests/unit/test_feed_misp.c \
	plugins/feed-misp/feed.c plugins/plugin.h
tests_unit_test_feed_misp_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_misp_LDADD = $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_feed_stix2 tests/unit/test_feed_misp
endif

FUZZ_TARGETS += stix2 misp
FUZZ_BINS += fuzz-build/stix2 fuzz-build/misp

fuzz-build/stix2: $(FUZZ_SRC)/fuzz_stix2.c $(srcdir)/plugins/feed-stix2/feed.c \
    $(srcdir)/plugins/plugin.h
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_stix2.c \
	    $(srcdir)/plugins/feed-stix2/feed.c $(JANSSON_LIBS)
fuzz-build/misp: $(FUZZ_SRC)/fuzz_misp.c $(srcdir)/plugins/feed-misp/feed.c \
    $(srcdir)/plugins/plugin.h
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_misp.c \
	    $(srcdir)/plugins/feed-misp/feed.c $(JANSSON_LIBS)

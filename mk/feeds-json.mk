# mk/feeds-json.mk -- tests and fuzz targets of the JSON feed formats,
# stix2 and misp.  Each unit test compiles its plugin's feed.c in, with
# what the feed plugins share (plugins/lib) and what the tests share
# (tests/unit/feedtest.c), as the fuzz targets do (tests/fuzz/feedfuzz.c);
# their data are distributed with tests/unit/data and tests/fuzz.
FEEDS_JSON_LIB = plugins/lib/feedutil.c plugins/lib/feedutil.h \
	plugins/lib/feedjson.c plugins/lib/feedjson.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_feed_stix2 tests/unit/test_feed_misp
tests_unit_test_feed_stix2_SOURCES = tests/unit/test_feed_stix2.c \
	tests/unit/feedtest.c tests/unit/feedtest.h \
	plugins/feed-stix2/feed.c plugins/plugin.h $(FEEDS_JSON_LIB)
tests_unit_test_feed_stix2_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_stix2_LDADD = $(JANSSON_LIBS) $(IDN2_LIBS) \
	$(CMOCKA_LIBS)
tests_unit_test_feed_misp_SOURCES = tests/unit/test_feed_misp.c \
	tests/unit/feedtest.c tests/unit/feedtest.h \
	plugins/feed-misp/feed.c plugins/plugin.h $(FEEDS_JSON_LIB)
tests_unit_test_feed_misp_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_misp_LDADD = $(JANSSON_LIBS) $(IDN2_LIBS) \
	$(CMOCKA_LIBS)
TESTS += tests/unit/test_feed_stix2 tests/unit/test_feed_misp
endif

FUZZ_TARGETS += stix2 misp
FUZZ_BINS += fuzz-build/stix2 fuzz-build/misp
FUZZ_FEED_JSON = $(FUZZ_SRC)/feedfuzz.c $(srcdir)/plugins/lib/feedutil.c \
	$(srcdir)/plugins/lib/feedjson.c
FUZZ_FEED_JSON_H = $(FUZZ_SRC)/feedfuzz.h $(srcdir)/plugins/lib/feedutil.h \
	$(srcdir)/plugins/lib/feedjson.h $(srcdir)/plugins/plugin.h

fuzz-build/stix2: $(FUZZ_SRC)/fuzz_stix2.c $(srcdir)/plugins/feed-stix2/feed.c \
    $(FUZZ_FEED_JSON) $(FUZZ_FEED_JSON_H)
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_stix2.c \
	    $(srcdir)/plugins/feed-stix2/feed.c $(FUZZ_FEED_JSON) \
	    $(JANSSON_LIBS) $(IDN2_LIBS)
fuzz-build/misp: $(FUZZ_SRC)/fuzz_misp.c $(srcdir)/plugins/feed-misp/feed.c \
    $(FUZZ_FEED_JSON) $(FUZZ_FEED_JSON_H)
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_misp.c \
	    $(srcdir)/plugins/feed-misp/feed.c $(FUZZ_FEED_JSON) \
	    $(JANSSON_LIBS) $(IDN2_LIBS)

# mk/feeds-zone.mk -- the line-based feed formats, "rpz" (a policy zone as
# a master file) and "adblock": unit tests with each plugin's feed.c and
# what the feed plugins share (plugins/lib/feedutil.c) compiled in, and
# their fuzz targets (with tests/fuzz/feedfuzz.c).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_feed_rpz tests/unit/test_feed_adblock
tests_unit_test_feed_rpz_SOURCES = tests/unit/test_feed_rpz.c \
	plugins/feed-rpz/feed.c plugins/plugin.h \
	plugins/lib/feedutil.c plugins/lib/feedutil.h
tests_unit_test_feed_rpz_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_rpz_LDADD = $(LDNS_LIBS) $(IDN2_LIBS) $(CMOCKA_LIBS)
tests_unit_test_feed_adblock_SOURCES = tests/unit/test_feed_adblock.c \
	plugins/feed-adblock/feed.c plugins/plugin.h \
	plugins/lib/feedutil.c plugins/lib/feedutil.h
tests_unit_test_feed_adblock_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DRG_TEST_DATA='"$(abs_top_srcdir)/tests/unit/data"'
tests_unit_test_feed_adblock_LDADD = $(IDN2_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_feed_rpz tests/unit/test_feed_adblock
endif
EXTRA_DIST += tests/unit/data/rpz tests/unit/data/adblock

FUZZ_TARGETS += rpz adblock
FUZZ_BINS += fuzz-build/rpz fuzz-build/adblock
FUZZ_FEED_ZONE = $(FUZZ_SRC)/feedfuzz.c $(srcdir)/plugins/lib/feedutil.c
fuzz-build/rpz: $(FUZZ_SRC)/fuzz_rpz.c $(srcdir)/plugins/feed-rpz/feed.c \
    $(FUZZ_FEED_ZONE) $(FUZZ_SRC)/feedfuzz.h $(srcdir)/plugins/lib/feedutil.h
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_rpz.c \
	    $(srcdir)/plugins/feed-rpz/feed.c $(FUZZ_FEED_ZONE) $(DEPS_LIBS) \
	    $(IDN2_LIBS)
fuzz-build/adblock: $(FUZZ_SRC)/fuzz_adblock.c \
    $(srcdir)/plugins/feed-adblock/feed.c $(FUZZ_FEED_ZONE) \
    $(FUZZ_SRC)/feedfuzz.h $(srcdir)/plugins/lib/feedutil.h
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_adblock.c \
	    $(srcdir)/plugins/feed-adblock/feed.c $(FUZZ_FEED_ZONE) \
	    $(DEPS_LIBS) $(IDN2_LIBS)

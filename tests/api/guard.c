/* tests/api/guard.c - placeholder, replaced by the real tests. */
#include "../tap.h"

TEST(placeholder)
{
	CHECK(1);
}

static const struct tap_case cases[] = {
	TAP_CASE(placeholder)
};

int main(int argc, char **argv)
{
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}

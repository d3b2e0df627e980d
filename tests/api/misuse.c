/*
 * tests/api/misuse.c - every kind of heap misuse is caught by default
 * (placeholder: the misuse matrix replaces it).
 */
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

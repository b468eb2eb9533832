/*
 * main.c - floq-console, the web console behind every run URL. Everything
 * lives in the library (console/), so the tests link the same code this
 * program runs.
 */
#include "floq_console.h"

int main(int argc, char **argv) {
        return floq_console_main(argc, argv);
}

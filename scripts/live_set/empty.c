/* Allocates nothing: its trace has no events (the analyzer's fixed cost). */
int main(void) { return 0; }

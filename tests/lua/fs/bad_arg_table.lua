write_file(os.getenv("TEST_TMP") .. "/x.txt", { "not", "a", "string" })

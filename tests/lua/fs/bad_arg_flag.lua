mkdir(os.getenv("TEST_TMP") .. "/d")
remove(os.getenv("TEST_TMP") .. "/d", "yes")

local stored = crypto.password_hash("correct horse")
print(stored:sub(1, 31))
print(crypto.password_verify("correct horse", stored), crypto.password_verify("wrong", stored))

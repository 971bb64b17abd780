print(base64_encode("hello"), base64_decode("aGVsbG8"))
print(base64url_encode("\251\255"), hex_encode("\0\255"))
print(base64_decode("not base64!"))

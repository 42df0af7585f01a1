#!/bin/bash
# The seed's script, from the operations design published by DeNA (a blog post in Japanese;
# copy in /work/shared/seed/000_6cfb7150544d57c6.txt, step 4: the script that the SSM document
# seed/document.json runs on each server). Verbatim except for two changes:
#   1. `--endpoint-url "$KEYWARD_ENDPOINT"` added to the aws call, to reach keyward;
#   2. the output path /path/to/credentials made `${CREDENTIALS_PATH:-/path/to/credentials}`.
aws secretsmanager get-secret-value --secret-id iam-user-test001 --region ap-northeast-1 --endpoint-url "$KEYWARD_ENDPOINT" | \
jq -r .SecretString | \
jq -r '"aws_access_key_id=" + .aws_access_key_id, "aws_secret_access_key=" + .aws_secret_access_key' \
> "${CREDENTIALS_PATH:-/path/to/credentials}"

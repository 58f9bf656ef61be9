"""Channel accounts: a merchant's own WeChat Pay / Alipay merchant accounts and their sealed credentials."""

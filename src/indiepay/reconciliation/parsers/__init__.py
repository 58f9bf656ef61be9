"""Parsers of the channels' daily bills: WeChat Pay trade and fund-flow bills, the Alipay bill zip.

One module per format; each reads a binary stream lazily into typed rows and, at the end of the stream,
checks the rows against the totals the channel printed in the same file. Pure code: no database, no HTTP.
"""

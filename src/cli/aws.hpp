#pragma once

// The AWS client pieces the commands use, under their short names: the CLI is one of
// several clients of src/awsclient (the rotation engine's external issuer is another).

#include "awsclient/aws_client.hpp"
#include "awsclient/credential_chain.hpp"
#include "awsclient/http_client.hpp"
#include "awsclient/xml_reader.hpp"

namespace kw::cli {

namespace xml = awsclient::xml;
using awsclient::ChainOptions;
using awsclient::ClientRequest;
using awsclient::ClientResponse;
using awsclient::CurlHttpClient;
using awsclient::EnvLookup;
using awsclient::HttpTransport;
using awsclient::JsonTarget;
using awsclient::kIam;
using awsclient::kKeyward;
using awsclient::kSsm;
using awsclient::kSts;
using awsclient::MapEnvironment;
using awsclient::ParsedUrl;
using awsclient::ParseUrl;
using awsclient::ProcessEnvironment;
using awsclient::QueryClient;
using awsclient::QueryParamList;
using awsclient::QueryService;
using awsclient::ResolveCredentials;
using awsclient::ResolvedCredentials;

}  // namespace kw::cli

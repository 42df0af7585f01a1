#pragma once

// The SSM document operations of the JSON 1.1 API (`X-Amz-Target: AmazonSSM.*`) over
// documents::DocumentService: CreateDocument, GetDocument, DescribeDocument,
// ListDocuments, UpdateDocument, UpdateDocumentDefaultVersion, ListDocumentVersions,
// DeleteDocument. Shapes as botocore's SSM model; timestamps are epoch seconds.
//
// Authorization resources: arn:aws:ssm:REGION:ACCT:document/NAME (built-ins such as
// AWS-RunShellScript: arn:aws:ssm:REGION::document/NAME); "*" for ListDocuments.
// The composition root appends these operations to the SSM JsonService (signing name
// "ssm", target prefix "AmazonSSM", action prefix "ssm").

#include <vector>

#include "api/http/json_protocol.hpp"
#include "documents/document_service.hpp"
#include "iam/principal.hpp"

namespace kw::api {

// References must outlive the operations.
std::vector<JsonOperation> DocumentOperations(documents::DocumentService& documents,
                                              const iam::Account& account);

}  // namespace kw::api

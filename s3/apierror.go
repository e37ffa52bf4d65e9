package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/selfhub/hub/errors"
)

// errorCode is an S3 error code and the HTTP status S3 answers it with.
type errorCode struct {
	Code   string
	Status int
}

// The S3 errors this front end answers with; clients switch on the code.
var (
	errAccessDenied                      = errorCode{"AccessDenied", http.StatusForbidden}
	errAuthorizationHeaderMalformed      = errorCode{"AuthorizationHeaderMalformed", http.StatusBadRequest}
	errAuthorizationQueryParametersError = errorCode{"AuthorizationQueryParametersError", http.StatusBadRequest}
	errBadDigest                         = errorCode{"BadDigest", http.StatusBadRequest}
	errBucketAlreadyOwnedByYou           = errorCode{"BucketAlreadyOwnedByYou", http.StatusConflict}
	errBucketNotEmpty                    = errorCode{"BucketNotEmpty", http.StatusConflict}
	errEntityTooLarge                    = errorCode{"EntityTooLarge", http.StatusBadRequest}
	errIncompleteBody                    = errorCode{"IncompleteBody", http.StatusBadRequest}
	errInternalError                     = errorCode{"InternalError", http.StatusInternalServerError}
	errInvalidAccessKeyID                = errorCode{"InvalidAccessKeyId", http.StatusForbidden}
	errInvalidArgument                   = errorCode{"InvalidArgument", http.StatusBadRequest}
	errInvalidBucketName                 = errorCode{"InvalidBucketName", http.StatusBadRequest}
	errInvalidDigest                     = errorCode{"InvalidDigest", http.StatusBadRequest}
	errInvalidRange                      = errorCode{"InvalidRange", http.StatusRequestedRangeNotSatisfiable}
	errInvalidRequest                    = errorCode{"InvalidRequest", http.StatusBadRequest}
	errKeyTooLong                        = errorCode{"KeyTooLongError", http.StatusBadRequest}
	errMalformedXML                      = errorCode{"MalformedXML", http.StatusBadRequest}
	errMetadataTooLarge                  = errorCode{"MetadataTooLarge", http.StatusBadRequest}
	errMethodNotAllowed                  = errorCode{"MethodNotAllowed", http.StatusMethodNotAllowed}
	errMissingContentLength              = errorCode{"MissingContentLength", http.StatusLengthRequired}
	errNoSuchBucket                      = errorCode{"NoSuchBucket", http.StatusNotFound}
	errNoSuchKey                         = errorCode{"NoSuchKey", http.StatusNotFound}
	errNoSuchUpload                      = errorCode{"NoSuchUpload", http.StatusNotFound}
	errInvalidPart                       = errorCode{"InvalidPart", http.StatusBadRequest}
	errInvalidPartOrder                  = errorCode{"InvalidPartOrder", http.StatusBadRequest}
	errInvalidPartNumber                 = errorCode{"InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable}
	errEntityTooSmall                    = errorCode{"EntityTooSmall", http.StatusBadRequest}
	errNotImplemented                    = errorCode{"NotImplemented", http.StatusNotImplemented}
	errOperationAborted                  = errorCode{"OperationAborted", http.StatusConflict}
	errPreconditionFailed                = errorCode{"PreconditionFailed", http.StatusPreconditionFailed}
	errQuotaExceeded                     = errorCode{"QuotaExceeded", http.StatusForbidden}
	errRequestTimeTooSkewed              = errorCode{"RequestTimeTooSkewed", http.StatusForbidden}
	errServiceUnavailable                = errorCode{"ServiceUnavailable", http.StatusServiceUnavailable}
	errSignatureDoesNotMatch             = errorCode{"SignatureDoesNotMatch", http.StatusForbidden}
	errConditionalRequestConflict        = errorCode{"ConditionalRequestConflict", http.StatusConflict}
	errContentSHA256Mismatch             = errorCode{"XAmzContentSHA256Mismatch", http.StatusBadRequest}
)

// apiError is an error answered as S3 XML.
type apiError struct {
	code errorCode
	msg  string
}

func (e *apiError) Error() string { return e.code.Code + ": " + e.msg }

func apiErrorf(code errorCode, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// toAPIError maps an error of the hub's services to the S3 error a client
// expects; notFound is the code for NotExist (NoSuchBucket or NoSuchKey),
// since the services' kinds do not say what was missing.
func toAPIError(err error, notFound errorCode) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	msg := errors.Message(err)
	code := errInternalError
	switch errors.KindOf(err) {
	case errors.Invalid:
		code = errInvalidArgument
	case errors.NotExist:
		code = notFound
	case errors.Exist:
		code = errOperationAborted
	case errors.Permission, errors.Unauthenticated:
		code = errAccessDenied
	case errors.FailedPrecondition:
		code = errOperationAborted
	case errors.Exhausted:
		code = errQuotaExceeded
	case errors.Unimplemented:
		code = errNotImplemented
	case errors.Unavailable, errors.DeadlineExceeded:
		code = errServiceUnavailable
	default:
		msg = "internal error; the hub's log has the details"
	}
	return &apiError{code: code, msg: msg}
}

// errorBody is S3's <Error> document.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
}

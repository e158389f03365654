"""S3: the household's photo, kept private; links to it are short-lived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


def photo_key(reading_id: str, content_type: str) -> str:
    extension = {"image/png": "png"}.get(content_type, "jpg")
    return f"photos/{reading_id}.{extension}"


@dataclass
class PhotoStore:
    s3: Any  # boto3 S3 client
    bucket: str

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
        )

    def get(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data


class PhotoLinks(Protocol):
    def link(self, key: str) -> str: ...


@dataclass
class PresignedPhotoLinks:
    """Local runs (and AWS without CloudFront): an S3 presigned GET URL."""

    s3: Any
    bucket: str
    expires_in_seconds: int

    def link(self, key: str) -> str:
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.expires_in_seconds,
        )
        return url


@dataclass
class CloudFrontPhotoLinks:
    """AWS: a CloudFront signed URL; the bucket stays private behind origin access control."""

    domain: str
    key_pair_id: str
    private_key_pem: bytes
    expires_in_seconds: int

    def link(self, key: str) -> str:
        from botocore.signers import CloudFrontSigner
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        private_key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("CloudFront signing needs an RSA private key")

        def rsa_signer(message: bytes) -> bytes:
            # CloudFront only accepts SHA-1 RSA signatures for canned policies.
            return private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())

        signer = CloudFrontSigner(self.key_pair_id, rsa_signer)
        expires = datetime.now(UTC) + timedelta(seconds=self.expires_in_seconds)
        url: str = signer.generate_presigned_url(
            f"https://{self.domain}/{key}", date_less_than=expires
        )
        return url
